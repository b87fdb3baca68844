"""`translator recipe` on the tiny reverse task: every stage once, the report, a rerun that
resumes (nothing trained again), and monolingual text holding a test line refused."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal

import pytest
import torch
from helpers import SRC, TGT, WORDS, write_reverse_corpus

from translator.cli.main import main


def write_mono(directory, lines, lang=TGT):
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(directory / f"train.{lang}.gz", "wt", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    return directory


def mono_lines(n: int, data) -> list[str]:
    """n random lines of the task's words, none of them a validation or test line."""
    rng = random.Random(11)
    evaluation = {line for split in ("val", "test_2016_flickr") for lang in (SRC, TGT)
                  for line in (data / f"{split}.{lang}").read_text().splitlines()}
    out: list[str] = []
    while len(out) < n:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))
        if line not in evaluation:
            out.append(line)
    return out


def recipe(data, mono, out, cache, *extra):
    return main(["recipe", "--pair", f"{SRC}-{TGT}", "--data", str(data), "--mono", str(mono),
                 "--out", str(out), "--updates", "60", "--preset", "tiny", "--cache-dir",
                 str(cache), "--beam", "2", "-q", *extra])


def test_a_recipe_runs_every_stage_then_resumes(tmp_path, capsys):
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(300, data))
    out = tmp_path / "recipe"
    assert recipe(data, mono, out, tmp_path / "cache") == 0  # warm: the default
    report = json.loads((out / "report.json").read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert [s["stage"] for s in report["stages"]] == ["baseline", "reverse", "synthetic",
                                                       "backtranslated", "choice"]
    assert stages["baseline"]["updates"] == 18 and stages["reverse"]["updates"] == 12
    assert stages["backtranslated"]["updates"] == 30 and stages["synthetic"]["decoded"] == 300
    assert stages["reverse"]["pair"] == f"{TGT}-{SRC}"
    assert report["final"]["system"] in ("backtranslated", "backtranslated+baseline")
    assert set(report["final"]["val_bleu"]) == {"backtranslated", "backtranslated+baseline"}
    assert 0 <= report["final_bleu"] <= 100 and 0 < report["p_value"] <= 1
    saved = json.loads((out / "backtranslated" / "summary.json").read_text())
    assert saved["step"] == 30
    assert "| synthetic |" in (out / "report.md").read_text()
    assert "baseline (the recipe's own, 18 updates)" in (out / "report.md").read_text()
    # the back-translated model started from the baseline's weights (the default)
    assert stages["backtranslated"]["init"] == "baseline"
    assert "30 (from the baseline's weights)" in (out / "report.md").read_text()
    start = json.loads((out / "backtranslated" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["init_from"] == str(out / "baseline" / "best.pt")
    baseline = stages["baseline"]  # wall minutes hold the trainer's (and the set-up)
    assert 0 <= baseline["training_minutes"] <= baseline["minutes"]
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("best.pt")}
    # resumes (warm, as claimed), on a machine of other threads, also from a claim written
    # before the threads were left out of it
    claim = json.loads((out / "recipe.json").read_text())
    assert "threads" not in claim["config"]["train"]
    claim["config"]["train"]["threads"] = 2
    (out / "recipe.json").write_text(json.dumps(claim))
    assert recipe(data, mono, out, tmp_path / "cache", "--threads", "1", "--device",
                  "cpu") == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("best.pt")} == before
    # back-translated at the CPU's fastest precision
    assert json.loads((out / "synthetic" / "run.json").read_text())["precision"] == "int8"
    assert recipe(data, mono, out, tmp_path / "cache", "--seed", "7") != 0  # another recipe
    assert "other settings (config)" in capsys.readouterr().err


def test_a_recipe_interrupted_mid_stage_resumes_that_stage(tmp_path, capsys, monkeypatch):
    """A real Ctrl-C (SIGINT) during update 10 of the back-translated stage: the command
    stops with 130 and last.pt after it; the same command then trains only the rest of that
    stage (updates 11 to 30, the finished stages untouched) and the report adds the minutes
    of both sessions."""
    from translator.training import trainer as trainer_module

    init, interrupted = trainer_module.Trainer.__init__, []

    def interrupt_the_backtranslated_stage_once(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.out.name == "backtranslated" and not interrupted:
            def interrupt(step: int, loss: float) -> None:
                if step == 9 and not interrupted:  # finishes update 10, then stops
                    interrupted.append(step)
                    os.kill(os.getpid(), signal.SIGINT)
            self.on_step = interrupt
        else:
            self.on_step = lambda step, loss: resumed_steps.append(
                (self.out.name, step))

    resumed_steps: list[tuple[str, int]] = []
    monkeypatch.setattr(trainer_module.Trainer, "__init__",
                        interrupt_the_backtranslated_stage_once)
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(100, data))
    out = tmp_path / "recipe"
    assert recipe(data, mono, out, tmp_path / "cache") == 130
    assert interrupted == [9]
    assert not (out / "backtranslated" / "summary.json").exists()
    assert torch.load(out / "backtranslated" / "last.pt", weights_only=False)[
        "metrics"]["step"] == 10
    assert json.loads((out / "backtranslated" / "recipe-stage.json").read_text())["minutes"] >= 0
    # the first session's minutes, made large: the resumed session's must add to them
    (out / "backtranslated" / "recipe-stage.json").write_text(json.dumps({"minutes": 100}))
    finished = {p: p.stat().st_mtime_ns for p in out.rglob("*")
                if p.is_file() and "backtranslated" not in p.parts}
    resumed_steps.clear()
    capsys.readouterr()
    assert recipe(data, mono, out, tmp_path / "cache") == 0
    # only the interrupted stage trained, from update 11 to its last (30)
    assert resumed_steps == [("backtranslated", step) for step in range(11, 31)]
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items()
               if p.parent.name in ("baseline", "reverse", "synthetic"))
    report = json.loads((out / "report.json").read_text())
    stage = next(s for s in report["stages"] if s["stage"] == "backtranslated")
    assert stage["updates"] == 30 and 100 < stage["minutes"] < 110
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for a GPU where there is none")
def test_a_recipe_on_a_missing_gpu_is_a_clear_error(tmp_path, capsys):
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(20, data))
    assert recipe(data, mono, tmp_path / "r", tmp_path / "cache", "--device", "cuda") != 0
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and "Traceback" not in err


def test_monolingual_text_with_a_test_line_is_refused(tmp_path, capsys):
    data = write_reverse_corpus(tmp_path / "data")
    test_line = (data / f"test_2016_flickr.{TGT}").read_text().splitlines()[0]
    mono = write_mono(tmp_path / "mono", [*mono_lines(20, data), test_line])
    out = tmp_path / "recipe"
    assert recipe(data, mono, out, tmp_path / "cache") != 0
    assert "of the evaluation sets" in capsys.readouterr().err
    assert not out.exists()  # refused before any stage ran


def test_missing_monolingual_text_is_a_clear_error(tmp_path, capsys):
    data = write_reverse_corpus(tmp_path / "data")
    assert recipe(data, tmp_path / "nothing", tmp_path / "r", tmp_path / "cache") != 0
    assert f"no monolingual {TGT} text" in capsys.readouterr().err


def test_a_rerun_with_other_settings_is_refused(tmp_path, capsys):
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(30, data))
    out = tmp_path / "recipe"
    out.mkdir()
    (out / "recipe.json").write_text(json.dumps({"pair": f"{SRC}-{TGT}", "updates": 99}))
    assert recipe(data, mono, out, tmp_path / "cache") != 0
    assert "holds a recipe with other settings" in capsys.readouterr().err
    assert not (out / "baseline").exists()


def test_train_pairs_builds_a_pair_with_monolingual_text_by_the_recipe(tmp_path, capsys):
    """`train-pairs --mono`: the pair whose target language has text there goes through the
    recipe (within its --max-steps), the other is trained plainly; the index serves the
    recipe's final system, and a rerun trains nothing."""
    from translator.inference.translator import Translator
    from translator.training.index import read_index

    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(100, data))  # text in TGT only
    models = tmp_path / "models"
    command = ["train-pairs", "--pairs", f"{SRC}-{TGT},{TGT}-{SRC}", "--data", str(data),
               "--out", str(models), "--mono", str(mono), "--max-steps", "30",
               "--preset", "tiny", "--cache-dir", str(tmp_path / "cache"), "-q"]
    assert main(command) == 0
    report = json.loads((models / f"{SRC}-{TGT}" / "report.json").read_text())
    assert sum(s["updates"] for s in report["stages"]) == 30
    assert not (models / f"{TGT}-{SRC}" / "report.json").exists()  # no SRC text: plain
    assert json.loads((models / f"{TGT}-{SRC}" / "summary.json").read_text())["step"] == 30
    index = read_index(models)
    entry = index[f"{SRC}-{TGT}"]
    members = entry["checkpoint"].split("+")
    expected = {"backtranslated": 1, "backtranslated+baseline": 2}[report["final"]["system"]]
    assert len(members) == expected and members[0].endswith("backtranslated/best.pt")
    assert entry["test"] == {"bleu_beam5": report["final_bleu"]} and entry["steps"] == 30
    assert Translator.from_checkpoint(entry["checkpoint"]).translate(["a b"])[0] is not None
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in models.rglob("*.pt")}
    assert main(command) == 0
    assert "finished earlier, skipped" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in models.rglob("*.pt")} == before


def test_train_pairs_with_monolingual_text_needs_a_budget(tmp_path, capsys):
    """Refused before any pair trains, the plain pair listed first included; so is
    monolingual text holding a test line."""
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(20, data))
    command = ["train-pairs", "--pairs", f"{TGT}-{SRC},{SRC}-{TGT}", "--data", str(data),
               "--out", str(tmp_path / "models"), "--mono", str(mono), "--preset", "tiny",
               "--cache-dir", str(tmp_path / "cache"), "-q"]
    assert main(command) != 0
    assert "needs --max-steps" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()
    test_line = (data / f"test_2016_flickr.{TGT}").read_text().splitlines()[0]
    write_mono(mono, [*mono_lines(20, data), test_line])
    assert main([*command, "--max-steps", "10"]) != 0
    assert "of the evaluation sets" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def test_train_pairs_does_not_mix_a_plain_run_and_a_recipe(tmp_path, capsys):
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(20, data))
    models = tmp_path / "models"
    base = ["train-pairs", "--pairs", f"{SRC}-{TGT}", "--data", str(data), "--out",
            str(models), "--max-steps", "10", "--preset", "tiny", "--cache-dir",
            str(tmp_path / "cache"), "-q"]
    (models / f"{SRC}-{TGT}").mkdir(parents=True)
    (models / f"{SRC}-{TGT}" / "last.pt").write_bytes(b"an interrupted plain run")
    assert main([*base, "--mono", str(mono)]) != 0
    assert "holds an unfinished plain run" in capsys.readouterr().err
    (models / f"{SRC}-{TGT}" / "last.pt").unlink()
    (models / f"{SRC}-{TGT}" / "recipe.json").write_text("{}")
    assert main(base) != 0
    assert "holds an unfinished recipe" in capsys.readouterr().err
    assert main([*base, "--mono", str(mono), "--extra", str(mono)]) != 0
    assert "leave out --extra" in capsys.readouterr().err


def test_a_recipe_back_translates_with_a_given_reverse_model(tmp_path, capsys):
    """--reverse: no reverse stage (its updates reported as reused), the budget shared by the
    baseline and the back-translated model; a model of the wrong direction refused before
    any stage runs."""
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(300, data))
    write_mono(mono, mono_lines(50, data), lang=SRC)
    reverse = tmp_path / "reverse"
    assert main(["train", "--data", str(data), "--src", TGT, "--tgt", SRC, "--out",
                 str(reverse), "--max-steps", "20", "--preset", "tiny", "--cache-dir",
                 str(tmp_path / "cache"), "--no-test", "-q"]) == 0
    wrong = tmp_path / "wrong"  # the pair TGT->SRC given a TGT->SRC model as its reverse
    assert main(["recipe", "--pair", f"{TGT}-{SRC}", "--data", str(data), "--mono", str(mono),
                 "--out", str(wrong), "--updates", "60", "--preset", "tiny", "--reverse",
                 str(reverse / "best.pt"), "-q"]) != 0
    assert f"must translate {SRC}->{TGT}" in capsys.readouterr().err
    assert not wrong.exists()
    out = tmp_path / "recipe"
    assert recipe(data, mono, out, tmp_path / "cache", "--reverse",
                  str(reverse / "best.pt"), "--no-warm-start") == 0
    report = json.loads((out / "report.json").read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert "init" not in stages["backtranslated"]  # from nothing (--no-warm-start)
    assert "(from the baseline's weights)" not in (out / "report.md").read_text()
    assert stages["reverse"]["updates"] == 0 and stages["reverse"]["reused_updates"] == 20
    assert stages["baseline"]["updates"] == 22 and stages["backtranslated"]["updates"] == 38
    assert stages["synthetic"]["decoded"] == 300 and not (out / "reverse").exists()
    assert "besides the reused reverse model's 20" in (out / "report.md").read_text()


def test_train_pairs_reuses_the_other_directions_baseline_as_the_reverse_model(tmp_path):
    data = write_reverse_corpus(tmp_path / "data")
    mono = write_mono(tmp_path / "mono", mono_lines(100, data))
    write_mono(mono, mono_lines(100, data), lang=SRC)
    models = tmp_path / "models"
    assert main(["train-pairs", "--pairs", f"{SRC}-{TGT},{TGT}-{SRC}", "--data", str(data),
                 "--out", str(models), "--mono", str(mono), "--max-steps", "30",
                 "--preset", "tiny", "--cache-dir", str(tmp_path / "cache"), "-q"]) == 0
    first, second = (json.loads((models / pair / "report.json").read_text())
                     for pair in (f"{SRC}-{TGT}", f"{TGT}-{SRC}"))
    assert [s["updates"] for s in first["stages"][:2]] == [9, 6]  # its own reverse model
    reverse = {s["stage"]: s for s in second["stages"]}["reverse"]
    assert reverse["reused"] == str(models / f"{SRC}-{TGT}" / "baseline" / "best.pt")
    assert reverse["reused_updates"] == 9 and not (models / f"{TGT}-{SRC}" / "reverse").exists()
    assert sum(s["updates"] for s in second["stages"]) == 30


def test_the_stages_updates_sum_to_the_budget():
    from translator.training.recipe import stage_updates

    assert stage_updates(12000, False) == {"baseline": 3600, "reverse": 2400,
                                           "backtranslated": 6000}
    assert stage_updates(60, True) == {"baseline": 22, "backtranslated": 38}
    for updates in (3, 4, 17, 20, 100, 3999, 12001):
        for given in (False, True):
            assert sum(stage_updates(updates, given).values()) == updates, (updates, given)


def test_an_unfinished_recipe_keeps_the_reverse_model_it_began_with(tmp_path):
    from translator.training.train_pairs import _reverse_model

    other = tmp_path / f"{TGT}-{SRC}" / "baseline"
    other.mkdir(parents=True)
    (other.parent / "recipe.json").write_text("{}")
    (other / "summary.json").write_text(json.dumps({"step": 5, "stop_reason": "max_steps"}))
    (other / "best.pt").write_bytes(b"x")
    assert _reverse_model(tmp_path, SRC, TGT) == str(other / "best.pt")  # the finished baseline
    mine = tmp_path / f"{SRC}-{TGT}"
    mine.mkdir()
    (mine / "recipe.json").write_text(json.dumps({"pair": f"{SRC}-{TGT}"}))  # claimed without
    assert _reverse_model(tmp_path, SRC, TGT) is None
    (mine / "recipe.json").write_text(json.dumps({"reverse": ["/m/a.pt", "/m/b.pt"]}))
    assert _reverse_model(tmp_path, SRC, TGT) == "/m/a.pt+/m/b.pt"


def test_a_claim_from_before_a_new_setting_still_resumes():
    """An upgrade that adds a config key (at its default) leaves an unfinished recipe's claim
    valid; a claimed value that differs does not."""
    from translator.config import Config
    from translator.training.recipe import _with_new_defaults

    now = Config().to_dict()
    claimed = json.loads(json.dumps(now))
    del claimed["model"]["emb_scale_factor"]  # a claim written before the key existed
    assert claimed != now and _with_new_defaults(claimed) == now
    claimed["train"]["lr"] = now["train"]["lr"] * 2
    assert _with_new_defaults(claimed) != now


def test_a_recipe_claimed_before_warm_starts_resumes_as_it_began(tmp_path):
    """A recipe claimed before the warm start existed goes on without it (its back-translated
    model may be half trained from nothing); asking for it explicitly is refused."""
    import pytest

    from translator.config import Config
    from translator.errors import UserError
    from translator.training.recipe import WARM_START, Recipe

    def claim(warm_start=None) -> Recipe:
        r = Recipe(Config(), tmp_path, tmp_path, SRC, TGT, tmp_path / "out", 60,
                   warm_start=warm_start)
        r._claim()
        return r

    (tmp_path / "out").mkdir()
    assert claim().warm_start is WARM_START  # a new recipe: the default, recorded
    path = tmp_path / "out" / "recipe.json"
    assert json.loads(path.read_text())["warm_start"] is WARM_START
    older = json.loads(path.read_text())
    del older["warm_start"]
    path.write_text(json.dumps(older))
    assert claim().warm_start is False
    with pytest.raises(UserError, match="warm_start"):
        claim(warm_start=True)
    path.unlink()
    assert claim(warm_start=True).warm_start is True  # claimed warm: stays warm
    assert claim().warm_start is True
    with pytest.raises(UserError, match="warm_start"):
        claim(warm_start=False)


def test_synthetic_parts_made_on_another_device_are_refused(tmp_path):
    """The synthetic stage records the precision it decodes at (int8 on a CPU, fp32 on a GPU),
    so a recipe resumed on the other device refuses the parts instead of mixing them in."""
    import pytest

    from translator.config import Config
    from translator.data.corpus import CorpusError
    from translator.inference.backtranslate import _claim
    from translator.training.recipe import Recipe

    reverse = tmp_path / "reverse.pt"
    reverse.write_bytes(b"x")

    def identity(device: str) -> dict:
        cfg = Config().override("train", device=device)
        return Recipe(cfg, tmp_path, tmp_path, SRC, TGT, tmp_path / "out", 60,
                      reverse=str(reverse)).synthetic_identity()

    assert identity("cpu")["precision"] == "int8" and identity("cuda")["precision"] == "fp32"
    _claim(tmp_path, {"identity": identity("cpu")})
    _claim(tmp_path, {"identity": identity("cpu")})  # the same device resumes
    with pytest.raises(CorpusError, match="another back-translation"):
        _claim(tmp_path, {"identity": identity("cuda")})
