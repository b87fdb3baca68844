"""Data parallel training under a real torchrun with two gloo ranks on this CPU: the update of
two ranks equals one process' update of the whole batch, epochs split between the ranks, rank 0
alone writes, every rank waits for rank 0's last write before it leaves, DDP resume is exact,
and a checkpoint written before DDP existed still resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SRC, TGT, children_of, step_config, step_parts, tiny_config

from translator.checkpoint import load_checkpoint
from translator.data.batching import token_budget_batches
from translator.data.corpus import read_split
from translator.data.prepare import prepare
from translator.inference.translator import Translator
from translator.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent


def torchrun(args: list[str], tmp_path: Path, ranks: int = 2, timeout: float = 240
             ) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", str(ranks), *args]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll `condition` until it holds; fail, saying `what` never happened, after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)


def train_records(run: Path, kind: str = "train") -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


# ------------------------------------------------------------------ the update itself
def test_two_ranks_with_half_a_batch_each_equal_one_process_with_all(reverse_corpus, tmp_path):
    out = tmp_path / "ddp.pt"
    torchrun([str(ROOT / "tests/scripts/ddp_step.py"), str(reverse_corpus), str(tmp_path / "runs"),
              str(out)], tmp_path)
    ddp = torch.load(out)

    def one_process(split: bool) -> tuple[dict, list[float]]:
        trainer = Trainer(step_config(), reverse_corpus, SRC, TGT, tmp_path / f"one{split}",
                          progress=False)
        parts = step_parts()
        batches = ([trainer.train_data.batch(p) for p in parts] if split
                   else [trainer.train_data.batch(np.concatenate(parts))])
        losses = []
        for _ in range(3):
            loss_sum, _, total = trainer._train_step(batches, 1e-2, None)
            losses.append(loss_sum / total)
        grads = {n: p.grad for n, p in trainer.model.named_parameters()}
        return trainer.model.state_dict(), grads, losses

    for split in (False, True):  # the whole batch at once, and accumulated in the two parts
        weights, grads, losses = one_process(split)
        assert losses == pytest.approx(ddp["losses"], rel=1e-5)
        for name, grad in grads.items():
            assert torch.allclose(grad, ddp["grads"][name], rtol=1e-4, atol=1e-7), name
        # Adam divides by the gradients' root mean square: float noise in near-zero gradients
        # moves a weight by up to ~1e-5 after three updates of 1e-2
        for name, value in weights.items():
            assert torch.allclose(value, ddp["model"][name], rtol=1e-4, atol=5e-5), name
    # the updates moved the weights: agreement is not two untouched initialisations
    start = Trainer(step_config().override("train", max_steps=1), reverse_corpus, SRC, TGT,
                    tmp_path / "start", progress=False).model.state_dict()
    assert not all(torch.equal(start[k], ddp["model"][k]) for k in start)


def test_every_rank_waits_for_rank_0s_last_write_then_all_exit_0(reverse_corpus, tmp_path):
    """Issue 27: rank 1 left the group while rank 0 still saved and was sometimes aborted
    (SIGABRT), so torchrun failed a run that had succeeded. Here rank 0 saves 3 s after the
    updates, on purpose: rank 1 reaches `Trainer.close` first and must wait there for rank 0;
    then both exit 0 (`torchrun` asserts torchrun's return code)."""
    out = tmp_path / "ddp.pt"
    torchrun([str(ROOT / "tests/scripts/ddp_step.py"), str(reverse_corpus), str(tmp_path / "runs"),
              str(out), "3"], tmp_path)
    # the file system's clock may lag time.time() by a tick, never lead it: no false failure
    written = out.stat().st_mtime
    for rank in (0, 1):
        closed = float((tmp_path / f"ddp.pt.closed.{rank}").read_text())
        assert closed >= written, f"rank {rank} left {written - closed:.2f} s before the save"


def test_uneven_ranks_are_weighted_by_their_tokens(reverse_corpus, tmp_path):
    """What DDP alone would do (each rank's mean loss averaged) differs from the whole batch
    when the ranks hold different numbers of tokens: the equivalence above is not trivial."""
    trainer = Trainer(step_config(), reverse_corpus, SRC, TGT, tmp_path / "run", progress=False)
    a, b = (trainer.train_data.batch(p) for p in step_parts())
    (la, na), (lb, nb) = trainer._loss(a), trainer._loss(b)
    assert na != nb
    whole = (la + lb) / (na + nb)
    mean_of_means = (la / na + lb / nb) / 2
    assert abs(float((whole - mean_of_means).detach())) > 1e-3


# ------------------------------------------------------------------ the command under torchrun
def ddp_train(corpus: Path, run: Path, tmp_path: Path, steps: int, *extra: str):
    return torchrun(["-m", "translator", "train", "--data", str(corpus), "--src", SRC,
                     "--tgt", TGT, "--preset", "tiny", "--config", str(tmp_path / "cfg.yaml"),
                     "--out", str(run), "--max-steps", str(steps), "--threads", "1", "-q",
                     "--no-test", *extra], tmp_path)


def write_config(tmp_path: Path) -> None:
    # dropout on: each rank's random state must be saved and restored for an exact resume
    (tmp_path / "cfg.yaml").write_text(
        "model: {dropout: 0.1, emb_dropout: 0.1}\n"
        "train: {log_every: 1, eval_every: 10, save_every: 0, average_last: 0}\n")


def test_torchrun_training_splits_epochs_writes_once_and_resumes_exactly(reverse_corpus,
                                                                         tmp_path):
    write_config(tmp_path)
    full, part = tmp_path / "full", tmp_path / "part"
    done = ddp_train(reverse_corpus, full, tmp_path, 20)
    assert done.stdout.count('"stop_reason"') == 1  # rank 0 alone prints the summary
    ddp_train(reverse_corpus, part, tmp_path, 10)
    ddp_train(reverse_corpus, part, tmp_path, 20, "--resume")

    records = train_records(full)
    assert [r["step"] for r in records] == list(range(1, 21))  # one line per step: rank 0's
    resumed = train_records(part)
    assert [r["step"] for r in resumed] == list(range(1, 21))
    assert [r["loss"] for r in resumed] == pytest.approx([r["loss"] for r in records], rel=1e-6)
    assert [r["bleu"] for r in train_records(part, "valid")] == pytest.approx(
        [r["bleu"] for r in train_records(full, "valid")])
    last = load_checkpoint(full / "last.pt")["train_state"]
    assert last["world_size"] == 2 and len(last["rng_ranks"]) == 2
    assert not torch.equal(last["rng_ranks"][0]["torch"], last["rng_ranks"][1]["torch"])

    # each epoch's batches are shared between the two ranks: half the updates per epoch
    cfg = tiny_config()
    prepared = prepare(cfg, reverse_corpus, SRC, TGT, progress=False)
    n_batches = len(token_budget_batches(prepared.corpus.batch_lengths(),
                                         cfg.train.batch_tokens, shuffle=True, seed=0))
    per_epoch = n_batches // 2
    assert [r["epoch"] for r in records] == [(s - 1) // per_epoch for s in range(1, 21)]

    # the checkpoint is like any other: it learned (validation loss down from step 10 to 20),
    # it holds the same weights as the resumed run's, and both translate alike
    losses = [r["loss"] for r in train_records(full, "valid")]
    assert len(losses) == 2 and losses[1] < losses[0], losses
    weights = load_checkpoint(full / "best.pt")["model"]
    resumed_weights = load_checkpoint(part / "best.pt")["model"]
    assert weights.keys() == resumed_weights.keys()
    assert all(torch.allclose(weights[k], resumed_weights[k], atol=1e-6) for k in weights)
    val = read_split(reverse_corpus, "val", SRC, TGT).src
    hyps = Translator.from_checkpoint(full / "best.pt").translate(val, beam_size=2)
    assert len(hyps) == len(val) and all(isinstance(h, str) for h in hyps)
    assert Translator.from_checkpoint(part / "best.pt").translate(val, beam_size=2) == hyps
    assert (full / "metrics.png").is_file()


@pytest.mark.parametrize("every_process", [False, True], ids=["torchrun", "every-process"])
def test_stopping_torchrun_saves_every_ranks_state(reverse_corpus, tmp_path, every_process):
    """SIGTERM to torchrun (what `kill` sends) reaches the ranks; they finish the update in
    progress together and rank 0 writes last.pt with both ranks' random state. A scheduler
    (SLURM's scancel) signals every process, so each rank gets SIGTERM twice, directly and
    through torchrun: the second is ignored, not an abort of one rank in a collective."""
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "translator", "train", "--data", str(reverse_corpus), "--src", SRC, "--tgt", TGT,
         "--preset", "tiny", "--out", str(run), "--max-steps", "100000", "--threads", "1",
         "-q", "--no-test"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    stderr, reader = read_in_background(proc.stderr)
    wait_until(lambda: train_records_so_far(run), "the first training step")
    if every_process:
        for rank in children_of(proc.pid):
            os.kill(rank, signal.SIGTERM)
        # torchrun's forwarded signal must come while the ranks are stopping: once rank 0 says so
        wait_until(lambda: "interrupt: finishing this step" in "".join(stderr),
                   "rank 0 taking the first SIGTERM")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    reader.join(timeout=10)  # the last lines, after torchrun's exit
    err = "".join(stderr)
    assert "interrupted at step" in err and "continue with --resume" in err
    state = load_checkpoint(run / "last.pt")["train_state"]
    assert state["state"]["step"] >= 1 and state["state"]["stop_reason"] == "interrupted"
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2


def train_records_so_far(run: Path) -> bool:
    path = run / "metrics.jsonl"
    return path.exists() and '"type": "train"' in path.read_text()


def read_in_background(stream) -> tuple[list[str], threading.Thread]:
    """A list that a thread fills with the lines of `stream` until it closes, and the thread."""
    lines: list[str] = []

    def read() -> None:
        for line in stream:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def test_a_last_pt_written_before_ddp_still_resumes(tmp_path, caplog):
    """tests/data/training/old_last.pt: written by the release before compact corpora and DDP
    (the reverse corpus of seed 0, a 16-wide tiny model, interrupted at step 6 of 12, in its
    first epoch)."""
    from helpers import write_reverse_corpus

    corpus = write_reverse_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(ROOT / "tests/data/training/old_last.pt", run / "last.pt")
    trainer = Trainer(tiny_config(max_steps=12), corpus, SRC, TGT, run, resume=True,
                      progress=False)
    assert trainer.state.step == 6
    # that release shuffled with Python's random: the rest of the epoch is in another order
    assert trainer.state.batch_in_epoch == 6 and "earlier release" in caplog.text
    summary = trainer.run()
    assert summary["stop_reason"] == "reached 12 steps" and summary["step"] == 12
    assert np.isfinite(summary["best_val_bleu"])


def test_resuming_needs_last_pt_on_every_machine(tmp_path):
    """Rank 0 alone writes last.pt: on machines that do not share --out, a resume must not
    start the other machine's ranks afresh. What every rank's `gather` would return there
    (rank 0 sees last.pt, rank 1 on the other machine does not) is given here, as no second
    machine is."""
    from types import SimpleNamespace

    from translator.errors import UserError
    from translator.training.trainer import Trainer

    (tmp_path / "last.pt").write_bytes(b"")
    gathered = []
    ranks = SimpleNamespace(gather=lambda found: gathered.append(found) or [found, False])
    with pytest.raises(UserError, match=r"not for ranks \[1\].*every machine sees"):
        Trainer._check_shared_out(SimpleNamespace(ranks=ranks), tmp_path / "last.pt")
    assert gathered == [True]
    ranks = SimpleNamespace(gather=lambda found: [found, found])  # a shared --out
    Trainer._check_shared_out(SimpleNamespace(ranks=ranks), tmp_path / "last.pt")


def test_a_warm_start_needs_its_checkpoint_on_every_machine(tmp_path):
    """`train --init` under torchrun: a checkpoint only some machines see stops every rank with
    the ranks that miss it (gathered as in the test above)."""
    from types import SimpleNamespace

    from translator.errors import UserError
    from translator.training.trainer import Trainer

    (tmp_path / "start.pt").write_bytes(b"")
    ranks = SimpleNamespace(gather=lambda found: [found, False, found])
    with pytest.raises(UserError, match=r"not a file for ranks \[1\].*every machine sees"):
        Trainer._check_init_everywhere(SimpleNamespace(ranks=ranks), tmp_path / "start.pt")
    ranks = SimpleNamespace(gather=lambda found: [found, found])
    Trainer._check_init_everywhere(SimpleNamespace(ranks=ranks), tmp_path / "start.pt")
    with pytest.raises(UserError, match=r"ranks \[0, 1\]"):
        Trainer._check_init_everywhere(SimpleNamespace(ranks=ranks), tmp_path / "none.pt")


def test_train_pairs_refuses_to_run_under_torchrun(monkeypatch, tmp_path):
    from translator.errors import UserError
    from translator.training.train_pairs import train_pairs

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match="does not run under torchrun"):
        train_pairs(tiny_config(), tmp_path, [(SRC, TGT)], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_multilingual_run_under_torchrun(three_way_corpus, tmp_path):
    """Two ranks of `translator train --langs`: rank 0 prepares the shared vocabulary and
    every direction's entries in a new cache while rank 1 waits for them; rank 0 alone
    validates each direction and writes; the checkpoint names its directions."""
    write_config(tmp_path)
    run = tmp_path / "multi"
    env_cache = tmp_path / "cache"
    done = torchrun(["-m", "translator", "train", "--data", str(three_way_corpus), "--langs",
                     "xx,yy,zz", "--directions", "xx-yy,zz-xx", "--preset", "tiny",
                     "--config", str(tmp_path / "cfg.yaml"),
                     "--out", str(run), "--max-steps", "10", "--threads", "1", "-q",
                     "--no-test", "--cache-dir", str(env_cache)], tmp_path)
    assert done.stdout.count('"stop_reason"') == 1
    assert [r["step"] for r in train_records(run)] == list(range(1, 11))
    valid = train_records(run, "valid")
    assert valid and set(valid[-1]["directions"]) == {"xx-yy", "zz-xx"}
    meta = load_checkpoint(run / "best.pt")["meta"]
    assert meta["directions"] == ["xx-yy", "zz-xx"]
    assert len(list((env_cache / "multi").iterdir())) == 1  # prepared once


def test_an_early_decay_under_torchrun_is_every_ranks(reverse_corpus, tmp_path):
    """Rank 0 decides when patience starts wsd's decay: the run goes on through the decay
    and every rank stops at its end (none left waiting in a collective)."""
    (tmp_path / "cfg.yaml").write_text(
        "train: {schedule: wsd, decay_fraction: 0.2, patience: 2, eval_every: 5, log_every: 1,"
        " lr: 1.0e-9, min_lr: 1.0e-10, warmup_steps: 1, save_every: 0, average_last: 0}\n")
    run = tmp_path / "run"
    done = torchrun(["-m", "translator", "train", "--data", str(reverse_corpus), "--src", SRC,
                     "--tgt", TGT, "--preset", "tiny", "--config", str(tmp_path / "cfg.yaml"),
                     "--out", str(run), "--threads", "1", "-q", "--no-test"], tmp_path)
    summary = json.loads(done.stdout[done.stdout.index("{\n"):])
    assert summary["step"] == 19 and "decay (wsd) to step 19" in summary["stop_reason"]
    assert train_records(run, "decay") == [{"type": "decay", "step": 15, "until": 19}]
    assert [r["step"] for r in train_records(run)] == list(range(1, 20))
