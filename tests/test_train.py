"""Tests for translator.training.trainer: learning a synthetic task, run artefacts, exact resume,
errors."""

from __future__ import annotations

import json
import os
import signal

import pytest
import sacrebleu
import torch
from helpers import SRC, TGT, TRAINED_STEPS, tiny_config

from translator.checkpoint import load_checkpoint, periodic_name
from translator.cli.main import main
from translator.data.corpus import CorpusError, read_split
from translator.defaults import TEST_SPLIT
from translator.inference.translator import Translator
from translator.training.trainer import Trainer


def read_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- learning
def test_tiny_preset_learns_the_reverse_task(trained_run, reverse_corpus):
    summary = trained_run["summary"]
    # the budget is steps alone (conftest): the run stops on them, however slow the machine
    assert summary["step"] == TRAINED_STEPS, summary
    assert summary["stop_reason"] == f"reached {TRAINED_STEPS} steps", summary
    assert summary["best_val_bleu"] >= 95, summary
    test = read_split(reverse_corpus, TEST_SPLIT, SRC, TGT)
    translator = Translator.from_checkpoint(trained_run["dir"] / "best.pt")
    hyps = translator.translate(test.src, beam_size=1)
    bleu = sacrebleu.corpus_bleu(hyps, [test.tgt]).score
    assert bleu >= 95, (bleu, list(zip(test.src, hyps))[:5])
    # beam search does at least as well as greedy on a task the model has learned
    beam = sacrebleu.corpus_bleu(translator.translate(test.src, beam_size=4), [test.tgt]).score
    assert beam >= max(bleu, 95), (beam, bleu)


def test_run_directory_artefacts(trained_run):
    out = trained_run["dir"]
    for name in ("best.pt", "last.pt", "metrics.jsonl", "metrics.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files
    records = read_records(out / "metrics.jsonl")
    types = [r["type"] for r in records]
    assert types[0] == "start" and types[-1] == "end"
    train = [r for r in records if r["type"] == "train"]
    valid = [r for r in records if r["type"] == "valid"]
    assert train and valid
    assert all({"step", "loss", "lr", "tokens_per_s"} <= r.keys() for r in train)
    assert all({"step", "loss", "bleu", "best_bleu"} <= r.keys() for r in valid)
    assert train[-1]["loss"] < train[0]["loss"]
    last_step = trained_run["summary"]["step"]
    assert valid[-1]["step"] == last_step  # the final state is always validated
    last = load_checkpoint(out / "last.pt")
    best = load_checkpoint(out / "best.pt")
    assert last["metrics"]["step"] == last_step
    assert best["metrics"]["step"] == trained_run["summary"]["best_step"]
    assert max(r["bleu"] for r in valid) == pytest.approx(best["metrics"]["best_bleu"])


# --------------------------------------------------------------------------- exact resume
RESUME_STEPS, DUE_EVERY = 40, 20


def resume_config():
    cfg = tiny_config(max_steps=RESUME_STEPS, log_every=1, eval_every=DUE_EVERY,
                      save_every=DUE_EVERY)
    return cfg.override("model", dropout=0.1, emb_dropout=0.1)  # dropout: the RNG matters


@pytest.fixture(scope="module")
def uninterrupted(reverse_corpus, tmp_path_factory) -> dict:
    losses: dict[int, float] = {}
    out = tmp_path_factory.mktemp("uninterrupted")
    summary = Trainer(resume_config(), reverse_corpus, SRC, TGT, out, progress=False,
                      on_step=lambda step, loss: losses.__setitem__(step, loss)).run()
    assert summary["step"] == RESUME_STEPS
    assert sorted(losses) == list(range(1, RESUME_STEPS + 1))
    return {"dir": out, "summary": summary, "losses": losses}


class MachineGone(Exception):
    """A run killed outright: nothing after it runs (no SIGINT handler, no last.pt)."""


def test_a_run_killed_outright_resumes_exactly_from_its_last_periodic_save(
        uninterrupted, reverse_corpus, tmp_path):
    run_a, losses_a = uninterrupted["dir"], uninterrupted["losses"]
    run_b = tmp_path / "b"

    def killed(step: int, loss: float) -> None:
        if step == DUE_EVERY + 7:
            raise MachineGone

    with pytest.raises(MachineGone):
        Trainer(resume_config(), reverse_corpus, SRC, TGT, run_b, progress=False,
                on_step=killed).run()
    assert load_checkpoint(run_b / "last.pt")["metrics"]["step"] == DUE_EVERY
    losses_b: dict[int, float] = {}
    resumed = Trainer(resume_config(), reverse_corpus, SRC, TGT, run_b, resume=True,
                      progress=False, on_step=lambda step, loss: losses_b.__setitem__(step, loss))
    assert resumed.state.step == DUE_EVERY
    assert resumed.run()["step"] == RESUME_STEPS
    assert losses_b == {s: losses_a[s] for s in range(DUE_EVERY + 1, RESUME_STEPS + 1)}
    for name in ("last.pt", "best.pt"):
        weights_a = load_checkpoint(run_a / name)["model"]
        weights_b = load_checkpoint(run_b / name)["model"]
        assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a), name
    records = read_records(run_b / "metrics.jsonl")  # the lost steps' records dropped
    steps = [r["step"] for r in records if r["type"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == RESUME_STEPS


# 17: mid-run; 20: a step due for validation and a periodic checkpoint (the interrupt saves
# last.pt before them: the resumed run must do them first); 40: the last step (the resumed
# run must not train a step more)
@pytest.mark.parametrize("interrupt_at", [17, DUE_EVERY, RESUME_STEPS])
def test_exact_resume_after_interrupt(uninterrupted, reverse_corpus, tmp_path, interrupt_at):
    run_a, summary_a, losses_a = (uninterrupted[k] for k in ("dir", "summary", "losses"))
    # B: a real Ctrl-C during step `interrupt_at` (it finishes, then last.pt), then resumed
    losses_b: dict[int, float] = {}
    run_b = tmp_path / "b"

    def interrupt(step: int, loss: float) -> None:
        losses_b[step] = loss
        if step == interrupt_at - 1:
            os.kill(os.getpid(), signal.SIGINT)

    first = Trainer(resume_config(), reverse_corpus, SRC, TGT, run_b, progress=False,
                    on_step=interrupt).run()
    assert first["stop_reason"] == "interrupted" and first["step"] == interrupt_at
    assert sorted(losses_b) == list(range(1, interrupt_at + 1))
    assert load_checkpoint(run_b / "last.pt")["metrics"]["step"] == interrupt_at

    resumed = Trainer(resume_config(), reverse_corpus, SRC, TGT, run_b, resume=True,
                      progress=False, on_step=lambda step, loss: losses_b.__setitem__(step, loss))
    assert resumed.state.step == interrupt_at
    summary_b = resumed.run()
    assert summary_b["step"] == RESUME_STEPS
    assert sorted(losses_b) == list(range(1, RESUME_STEPS + 1))

    assert [losses_b[s] for s in sorted(losses_b)] == [losses_a[s] for s in sorted(losses_a)]
    assert summary_b["best_val_bleu"] == summary_a["best_val_bleu"]
    assert summary_b["best_step"] == summary_a["best_step"]

    # the same weights at the end, the same periodic checkpoints (averaged at the end), and
    # the same log (the resumed run rewrote nothing twice and skipped no validation)
    for name in ("last.pt", "best.pt", periodic_name(DUE_EVERY)):
        weights_a = load_checkpoint(run_a / name)["model"]
        weights_b = load_checkpoint(run_b / name)["model"]
        assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a), name

    def comparable(records):
        return [(r["type"], r.get("step"), r.get("loss"), r.get("bleu")) for r in records
                if r["type"] in ("train", "valid")]

    log_a, log_b = read_records(run_a / "metrics.jsonl"), read_records(run_b / "metrics.jsonl")
    assert comparable(log_b) == comparable(log_a)
    assert [r["step"] for r in log_b if r["type"] == "valid"] == [DUE_EVERY, RESUME_STEPS]
    assert (run_b / "metrics.png").is_file()


def test_resume_without_checkpoint_starts_fresh(reverse_corpus, tmp_path):
    trainer = Trainer(tiny_config(max_steps=2), reverse_corpus, SRC, TGT, tmp_path / "run",
                      resume=True, progress=False)
    assert trainer.state.step == 0


# --------------------------------------------------------------------------- errors
def test_mismatched_corpus_files(corpus_dir, tmp_path):
    with (corpus_dir / f"train.{SRC}").open("a") as f:
        f.write("red cat dog\n")
    with pytest.raises(CorpusError, match="line counts differ"):
        Trainer(tiny_config(max_steps=1), corpus_dir, SRC, TGT, tmp_path / "run", progress=False)


def test_missing_corpus_file(corpus_dir, tmp_path):
    (corpus_dir / f"val.{TGT}").unlink()
    with pytest.raises(CorpusError, match=f"val.{TGT}"):
        Trainer(tiny_config(max_steps=1), corpus_dir, SRC, TGT, tmp_path / "run", progress=False)


def run_cli(capsys, argv) -> tuple[int, str, str]:
    code = main(argv)
    torch.set_num_threads(1)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_rejects_unknown_config_key(capsys, tmp_path, reverse_corpus):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  hiden_size: 3\n")
    out_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, [
        "train", "--config", str(bad), "--preset", "tiny", "--data", str(reverse_corpus),
        "--src", SRC, "--tgt", TGT, "--out", str(out_dir)])
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("translator: error: unknown key(s) in section 'model': hiden_size")
    assert not out_dir.exists()  # nothing was started


def test_cli_rejects_mismatched_corpus(capsys, corpus_dir, tmp_path):
    with (corpus_dir / f"train.{TGT}").open("a") as f:
        f.write("extra line\n")
    code, _, err = run_cli(capsys, [
        "train", "--preset", "tiny", "--data", str(corpus_dir), "--src", SRC, "--tgt", TGT,
        "--out", str(tmp_path / "run"), "--threads", "1", "-q"])
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and "line counts differ" in err


def test_cli_train_end_to_end(capsys, reverse_corpus, tmp_path):
    out_dir = tmp_path / "run"
    code, out, _ = run_cli(capsys, [
        "train", "--preset", "tiny", "--data", str(reverse_corpus), "--src", SRC, "--tgt", TGT,
        "--out", str(out_dir), "--max-steps", "10", "--threads", "1", "--test-beam", "2", "-q"])
    assert code == 0
    summary = json.loads(out[out.index("{\n"):])  # validation lines come before the summary
    assert summary["step"] == 10 and summary["stop_reason"] == "reached 10 steps"
    assert any(key.startswith(f"{TEST_SPLIT}_bleu") for key in summary), summary
    assert summary["bleu_signature"].startswith("nrefs:1|")
    assert json.loads((out_dir / "summary.json").read_text()) == summary
    hyp_files = sorted(out_dir.glob(f"{TEST_SPLIT}.*.{TGT}"))
    assert hyp_files
    n_test = len(read_split(reverse_corpus, TEST_SPLIT, SRC, TGT))
    assert all(len(p.read_text().splitlines()) == n_test for p in hyp_files)


def test_resume_goes_on_with_the_runs_own_pair(capsys, reverse_corpus, tmp_path):
    """A run of yy-xx resumed without --src/--tgt goes on as yy-xx (not the default de-en);
    another pair given is refused before anything starts."""
    out_dir = tmp_path / "run"
    base = ["train", "--preset", "tiny", "--data", str(reverse_corpus), "--out", str(out_dir),
            "--threads", "1", "--no-test", "-q"]
    assert run_cli(capsys, [*base, "--src", TGT, "--tgt", SRC, "--max-steps", "4"])[0] == 0
    code, _, err = run_cli(capsys, [*base, "--src", SRC, "--tgt", TGT, "--resume",
                                    "--max-steps", "6"])
    assert code == 2 and f"trains {TGT}-{SRC}: --resume goes on with its own pair" in err
    assert load_checkpoint(out_dir / "last.pt")["train_state"]["state"]["step"] == 4
    code, out, _ = run_cli(capsys, [*base, "--resume", "--max-steps", "6"])
    assert code == 0 and json.loads(out[out.index("{\n"):])["step"] == 6
    meta = load_checkpoint(out_dir / "last.pt")["meta"]
    assert (meta["src_lang"], meta["tgt_lang"]) == (TGT, SRC)


def test_resume_keeps_the_saved_budget_unless_given_again():
    from translator.config import preset
    from translator.training.state import resume_config

    saved = preset("base").override("train", max_minutes=60.0, lr=1e-3)
    requested = preset("base")  # what the CLI builds when only --resume is given
    assert resume_config(saved, requested, overrides={}).train.max_minutes == 60.0
    again = resume_config(saved, requested, overrides={"max_minutes": 90.0, "seed": 7})
    assert again.train.max_minutes == 90.0
    assert again.train.seed == saved.train.seed  # not a budget option: the saved run's value
    assert again.train.lr == 1e-3
    assert resume_config(saved, requested).train.max_minutes == 0.0  # API: requested budget


# --------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("schedule", ["constant", "cosine", "wsd"])
def test_learning_rate_warms_up_then_follows_its_schedule(schedule):
    from translator.config import TrainConfig
    from translator.training.schedule import learning_rate

    cfg = TrainConfig(lr=2e-3, min_lr=1e-5, warmup_steps=10, schedule=schedule,
                      decay_fraction=0.2)
    assert learning_rate(cfg, 0, 0.0) == pytest.approx(2e-4)  # 1/10 of the way up
    assert learning_rate(cfg, 9, 0.01) == pytest.approx(2e-3)
    middle, end = learning_rate(cfg, 500, 0.5), learning_rate(cfg, 1000, 1.0)
    if schedule == "constant":
        assert middle == end == pytest.approx(2e-3)
    elif schedule == "cosine":
        assert middle == pytest.approx((2e-3 + 1e-5) / 2) and end == pytest.approx(1e-5)
    else:  # stable at the peak until the last fifth of the budget, then linear to min_lr
        assert middle == pytest.approx(2e-3)
        assert learning_rate(cfg, 800, 0.8) == pytest.approx(2e-3)
        assert learning_rate(cfg, 900, 0.9) == pytest.approx((2e-3 + 1e-5) / 2)
        assert end == pytest.approx(1e-5)


def test_running_out_of_patience_under_wsd_starts_the_decay_then_stops():
    """Patience under wsd starts the decay (over the last decay_fraction of the steps it
    then makes) instead of stopping at the peak rate; once only, and never once the budget's
    own decay has begun or under another schedule."""
    from dataclasses import replace

    from translator.config import TrainConfig
    from translator.training.schedule import (
        budget_progress,
        budget_stop_reason,
        learning_rate,
        start_decay_early,
    )
    from translator.training.state import TrainState

    cfg = TrainConfig(lr=2e-3, min_lr=1e-5, warmup_steps=10, schedule="wsd",
                      decay_fraction=0.2, patience=2, max_steps=10_000)
    st = TrainState(step=800, bad_evals=2)
    assert start_decay_early(cfg, st, budget_progress(cfg, st, 100))
    assert st.decay_until == 1000 and st.bad_evals == 0 and budget_stop_reason(cfg, st) == ""
    lr_at = {}
    for step in (800, 900, 1000):
        st.step = step
        lr_at[step] = learning_rate(cfg, step, budget_progress(cfg, st, 100))
    assert lr_at == pytest.approx({800: 2e-3, 900: (2e-3 + 1e-5) / 2, 1000: 1e-5})
    assert budget_stop_reason(cfg, st) == ("early stopping: no BLEU gain in 2 validations, "
                                           "then the learning rate's decay (wsd) to step 1000")
    st.step, st.bad_evals = 950, 2  # patience running out again during the decay: stop
    assert not start_decay_early(cfg, st, budget_progress(cfg, st, 100))
    assert budget_stop_reason(cfg, st) == "early stopping: no BLEU gain in 2 validations"
    late = TrainState(step=9000, bad_evals=2)  # the budget's own decay has begun
    assert not start_decay_early(cfg, late, budget_progress(cfg, late, 100))
    assert budget_stop_reason(cfg, late) == "early stopping: no BLEU gain in 2 validations"
    for other in (replace(cfg, schedule="cosine"), replace(cfg, decay_fraction=0.0)):
        assert not start_decay_early(other, TrainState(step=800, bad_evals=2), 0.08)
    assert not start_decay_early(cfg, TrainState(step=800, bad_evals=1), 0.08)


def test_a_run_without_a_budget_decays_once_validation_stalls(reverse_corpus, tmp_path):
    """A run with no budget at a learning rate too small to learn: the second validation
    without gain (patience 2) starts the decay at step 15, to step ceil(15 / 0.8) = 19, and
    the run stops there, its learning rate falling linearly towards min_lr."""
    cfg = tiny_config(schedule="wsd", decay_fraction=0.2, patience=2, eval_every=5,
                      log_every=1, lr=1e-9, min_lr=1e-10, warmup_steps=1, save_every=0,
                      max_steps=0, average_last=0)
    out = tmp_path / "run"
    summary = Trainer(cfg, reverse_corpus, SRC, TGT, out, progress=False).run()
    assert summary["step"] == 19
    assert summary["stop_reason"] == ("early stopping: no BLEU gain in 2 validations, then "
                                      "the learning rate's decay (wsd) to step 19")
    records = read_records(out / "metrics.jsonl")
    assert [r for r in records if r["type"] == "decay"] == [
        {"type": "decay", "step": 15, "until": 19}]
    lr = {r["step"]: r["lr"] for r in records if r["type"] == "train"}  # of update N (at N-1)
    assert lr[15] == lr[16] == pytest.approx(1e-9)  # the peak until the decay starts
    assert lr[16] > lr[17] > lr[18] > lr[19] == pytest.approx(1e-10 + 9e-10 * (1 / 19) / 0.2)
    assert load_checkpoint(out / "last.pt")["train_state"]["state"]["decay_until"] == 19


def test_resuming_with_less_patience_starts_the_decay_and_after_it_goes_on(reverse_corpus,
                                                                             tmp_path):
    """A run resumed with a patience its validations without gain already exceed starts the
    decay at once (not a stop at the peak rate); one resumed after its decay ended, with a
    larger budget, goes on at the peak rate."""
    cfg = tiny_config(schedule="wsd", decay_fraction=0.2, patience=10, eval_every=5,
                      log_every=1, lr=1e-9, min_lr=1e-10, warmup_steps=1, save_every=0,
                      max_steps=12, average_last=0)
    out = tmp_path / "run"
    assert Trainer(cfg, reverse_corpus, SRC, TGT, out, progress=False).run()["step"] == 12
    # steps 10 and 12 (the final validation) without gain
    assert load_checkpoint(out / "last.pt")["train_state"]["state"]["bad_evals"] == 2
    summary = Trainer(cfg, reverse_corpus, SRC, TGT, out, resume=True, progress=False,
                      resume_overrides={"patience": 2, "max_steps": 40}).run()
    assert summary["step"] == 15 and "decay (wsd) to step 15" in summary["stop_reason"]
    assert [r for r in read_records(out / "metrics.jsonl") if r["type"] == "decay"] == [
        {"type": "decay", "step": 12, "until": 15}]
    summary = Trainer(cfg, reverse_corpus, SRC, TGT, out, resume=True, progress=False,
                      resume_overrides={"patience": 10, "max_steps": 30}).run()
    assert summary["step"] == 30 and summary["stop_reason"] == "reached 30 steps"
    lr = {r["step"]: r["lr"] for r in read_records(out / "metrics.jsonl")
          if r["type"] == "train"}
    assert lr[15] < lr[13]  # the decay
    assert [lr[step] for step in range(16, 24)] == pytest.approx([1e-9] * 8)  # the peak again
