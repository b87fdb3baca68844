"""Tests for translator.evaluation.evaluate and translator.cli.evaluate: sacreBLEU scores, paired
bootstrap, the evaluate and average commands (through an argparse harness, so they do not depend
on translator/cli/main.py registering them)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
import torch
from helpers import SRC, TGT

from translator.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from translator.cli.evaluate import add_average_parser, add_evaluate_parser
from translator.cli.main import UserError
from translator.data.corpus import CorpusError, read_split
from translator.evaluation.evaluate import (
    evaluate_checkpoints,
    format_table,
    hypothesis_file_names,
    paired_bootstrap,
    periodic_checkpoints,
    score,
)

SPLIT = "test_2016_flickr"
SAMPLES = 100  # bootstrap resamples: enough for p < 0.05 (the smallest p is 1/101)


def run_command(argv: list[str]) -> int:
    """Parse and run `evaluate` / `average` the way translator.cli.main.main would."""
    p = argparse.ArgumentParser(prog="translator")
    sub = p.add_subparsers(dest="command", required=True)
    add_evaluate_parser(sub)
    add_average_parser(sub)
    args = p.parse_args(argv)
    return args.func(args)


def sacrebleu_cli() -> str:
    path = Path(sys.executable).parent / "sacrebleu"
    return str(path) if path.exists() else shutil.which("sacrebleu")


@pytest.fixture(scope="module")
def best_pt(trained_run) -> Path:
    return trained_run["dir"] / "best.pt"


@pytest.fixture(scope="module")
def noisy_pt(best_pt, tmp_path_factory) -> Path:
    """best.pt with Gaussian noise on its weights: a deliberately worse model."""
    data = load_checkpoint(best_pt)
    gen = torch.Generator().manual_seed(0)
    data["model"] = {k: v + 0.15 * torch.randn(v.shape, generator=gen) if v.is_floating_point()
                     else v for k, v in data["model"].items()}
    payload = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    return save_checkpoint(tmp_path_factory.mktemp("noisy") / "noisy.pt", payload)


@pytest.fixture(scope="module")
def files(reverse_corpus, tmp_path_factory) -> dict:
    """The synthetic test split as plain --src/--ref files (first 60 segments, for speed)."""
    test = read_split(reverse_corpus, SPLIT, SRC, TGT)
    d = tmp_path_factory.mktemp("evalfiles")
    (d / "src.txt").write_text("".join(s + "\n" for s in test.src[:60]))
    (d / "ref.txt").write_text("".join(t + "\n" for t in test.tgt[:60]))
    return {"src": d / "src.txt", "ref": d / "ref.txt", "n": 60}


# ------------------------------------------------------------------------------ score()
def test_score_matches_sacrebleu_directly():
    refs = ["the cat sat on the mat", "a dog runs in the park", "red fish , blue fish"]
    hyps = ["the cat sat on a mat", "a dog is running in a park", "red fish blue fish"]
    got = score(hyps, refs)
    for key, metric in (("bleu", sacrebleu.BLEU()), ("chrf", sacrebleu.CHRF()),
                        ("ter", sacrebleu.TER())):
        assert got[key] == pytest.approx(metric.corpus_score(hyps, [refs]).score)
        assert got["signatures"][key] == str(metric.get_signature())
    assert set(got) == {"bleu", "chrf", "ter", "signatures"}
    assert score(refs, refs)["bleu"] == pytest.approx(100.0)
    assert "nrefs:1" in got["signatures"]["bleu"]


def test_score_rejects_mismatched_lengths():
    with pytest.raises(CorpusError, match="2 hypotheses, 3 references"):
        score(["a", "b"], ["a", "b", "c"])
    with pytest.raises(CorpusError, match="nothing to score"):
        score([], [])


def test_evaluate_checkpoints_rejects_mismatched_lengths_before_loading(tmp_path):
    # The checkpoint does not exist: the length check must come first.
    with pytest.raises(CorpusError, match="differ in length"):
        evaluate_checkpoints([str(tmp_path / "none.pt")], ["a", "b"], ["a"])


def test_paired_bootstrap_identical_systems_are_not_significant():
    refs = ["a b c d", "e f g h i", "the cat sat on the mat"] * 10
    worse = ["a b c x", "e f g", "the cat sat on a mat"] * 10
    base, diff, same = paired_bootstrap([refs, worse, list(refs)], refs, samples=SAMPLES)
    assert base["p_values"] is None
    assert all(p < 0.05 for p in diff["p_values"].values())
    assert same["p_values"] == {"bleu": 1.0, "chrf": 1.0, "ter": 1.0}
    assert "bs:100|seed:12345" in diff["signatures"]["bleu"]


# ------------------------------------------------------------------------ evaluate command
def test_evaluate_bleu_equals_sacrebleu_cli(best_pt, noisy_pt, files, tmp_path, capsys):
    hyp_dir = tmp_path / "hyps"
    rc = run_command(["evaluate", "--checkpoint", str(best_pt), str(noisy_pt),
                      "--src", str(files["src"]), "--ref", str(files["ref"]), "--beam", "2",
                      "--threads", "1", "--bootstrap", str(SAMPLES), "--json",
                      "--save-hyps", str(hyp_dir)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    results = doc["results"]
    assert [r["checkpoint"] for r in results] == [str(best_pt), str(noisy_pt)]
    for r in results:
        assert "hypotheses" not in r
        assert set(r["signatures"]) == {"bleu", "chrf", "ter"}
        hyp_file = Path(r["hypotheses_file"])
        assert hyp_file.parent == hyp_dir
        assert len(hyp_file.read_text().splitlines()) == files["n"]
        cli = subprocess.run(
            [sacrebleu_cli(), str(files["ref"]), "-i", str(hyp_file), "-m", "bleu", "-b",
             "-w", "2"], capture_output=True, text=True, check=True)
        assert round(r["bleu"], 2) == pytest.approx(float(cli.stdout.strip()), abs=1e-9)
        for key in ("chrf", "ter"):
            cli = subprocess.run(
                [sacrebleu_cli(), str(files["ref"]), "-i", str(hyp_file), "-m", key, "-b",
                 "-w", "2"], capture_output=True, text=True, check=True)
            assert round(r[key], 2) == pytest.approx(float(cli.stdout.strip()), abs=1e-9)

    # The noisy model is clearly worse, and the paired test says so.
    base, worse = results
    assert base["bleu"] > worse["bleu"] + 10, (base["bleu"], worse["bleu"])
    assert base["p_values"] is None and base["significant"] is None
    assert worse["p_values"]["bleu"] < 0.05 and worse["significant"]["bleu"] is True
    assert worse["bootstrap"]["samples"] == SAMPLES and worse["bootstrap"]["seed"] == 12345

    # ... with the same p-value as `sacrebleu --paired-bs` on the saved hypotheses.
    base_hyp, sys_hyp = (r["hypotheses_file"] for r in results)
    cli = subprocess.run(
        [sacrebleu_cli(), str(files["ref"]), "-i", base_hyp, sys_hyp, "-m", "bleu",
         "--paired-bs", "--paired-bs-n", str(SAMPLES), "-f", "text"],
        capture_output=True, text=True, check=True)
    p_values = [float(p) for p in re.findall(r"p = ([0-9.]+)", cli.stdout)]
    assert p_values == [round(worse["p_values"]["bleu"], 4)]


def test_evaluate_table_marks_significance(best_pt, noisy_pt, reverse_corpus, capsys):
    rc = run_command(["evaluate", "--checkpoint", str(best_pt), str(noisy_pt),
                      "--data", str(reverse_corpus), "--src", SRC, "--tgt", TGT,
                      "--beam", "1", "--threads", "1", "--bootstrap", str(SAMPLES)])
    assert rc == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].split() == ["checkpoint", "BLEU", "chrF", "TER", "p(BLEU)", "p(chrF)",
                                "p(TER)"]
    noisy_row = next(ln for ln in lines if ln.startswith(str(noisy_pt)))
    assert re.search(r"\d\.\d{4}\*", noisy_row)
    best_row = next(ln for ln in lines if ln.startswith(str(best_pt)))
    assert "*" not in best_row and "baseline" in best_row
    assert "paired bootstrap resampling, 100 samples, seed 12345" in table
    assert re.search(r"^BLEU\s+nrefs:1\|", table, re.M)
    assert re.search(r"^chrF\s+nrefs:1\|", table, re.M)
    assert re.search(r"^TER\s+nrefs:1\|", table, re.M)


def test_evaluate_single_checkpoint_data_split_json(best_pt, reverse_corpus, capsys):
    rc = run_command(["evaluate", "--checkpoint", str(best_pt), "--data", str(reverse_corpus),
                      "--split", "val", "--src", SRC, "--tgt", TGT, "--beam", "1",
                      "--threads", "1", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["split"] == "val" and doc["segments"] == 100
    (r,) = doc["results"]
    assert r["bleu"] > 50  # the tiny model has learnt to reverse
    assert 0 <= r["chrf"] <= 100 and r["ter"] >= 0
    assert r["p_values"] is None and r["bootstrap"] is None
    assert r["signatures"]["bleu"].startswith("nrefs:1|")


def test_evaluate_same_checkpoint_twice_not_significant(best_pt, files):
    src = files["src"].read_text().splitlines()[:20]
    ref = files["ref"].read_text().splitlines()[:20]
    results = evaluate_checkpoints([str(best_pt), str(best_pt)], src, ref, beam_size=1,
                                   threads=1, bootstrap=SAMPLES)
    assert results[0]["hypotheses"] == results[1]["hypotheses"]
    assert results[1]["p_values"]["bleu"] == 1.0
    assert results[1]["significant"] == {"bleu": False, "chrf": False, "ter": False}
    assert "*" not in format_table(results).split("\n* p <")[0]


@pytest.mark.parametrize("extra, message", [
    (["--src", "a.txt"], "either --src FILE --ref FILE"),
    (["--ref", "b.txt"], "either --src FILE --ref FILE"),
    (["--src", "a.txt", "--ref", "b.txt", "--tgt", "en"], "--split and --tgt need --data"),
    (["--src", "a.txt", "--ref", "b.txt", "--split", "val"], "--split and --tgt need --data"),
    (["--data", "d", "--src", "de"], "with --data, give the language codes"),
    (["--data", "d", "--src", "de", "--tgt", "en", "--ref", "b.txt"], "--ref cannot be"),
    (["--src", "a.txt", "--ref", "b.txt", "--beam", "0"], "--beam must be at least 1"),
    (["--src", "a.txt", "--ref", "b.txt", "--bootstrap", "-1"], "--bootstrap must be"),
])
def test_evaluate_argument_errors(extra, message):
    with pytest.raises(UserError, match=re.escape(message)):
        run_command(["evaluate", "--checkpoint", "x.pt", *extra])


def test_evaluate_mismatched_files(best_pt, files, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("".join(ln + "\n" for ln in files["ref"].read_text().splitlines()[:-1]))
    with pytest.raises(CorpusError, match="line counts differ"):
        run_command(["evaluate", "--checkpoint", str(best_pt), "--src", str(files["src"]),
                     "--ref", str(short)])


def test_hypothesis_file_names_are_safe_and_distinct(tmp_path):
    names = hypothesis_file_names([tmp_path / "run a" / "best.pt", tmp_path / "x" / "run a" /
                                   "best.pt", tmp_path / "run2" / "step0000300.pt"])
    assert names == ["run_a.best.hyp", "run_a.best.2.hyp", "run2.step0000300.hyp"]


def test_cli_main_runs_evaluate_and_average(best_pt, files, capsys):
    """Through translator.cli.main.main, which registers both commands."""
    from translator.cli import main as cli

    sub = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"evaluate", "average"} <= sub.choices.keys()
    assert cli.main(["evaluate", "--checkpoint", str(best_pt), "--src", str(files["src"]),
                     "--ref", str(files["ref"]), "--beam", "1", "--threads", "1",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["bleu"] > 50
    assert cli.main(["evaluate", "--checkpoint", str(best_pt), "--src", "x"]) == 2
    assert cli.main(["average", "--out", "avg.pt", str(best_pt)]) == 2
    err = capsys.readouterr().err
    assert err.count("translator: error: ") == 2 and "Traceback" not in err


# ------------------------------------------------------------------------- average command
def test_average_of_identical_checkpoints_is_the_original(best_pt, tmp_path, capsys):
    copy = shutil.copy(best_pt, tmp_path / "copy.pt")
    out = tmp_path / "avg.pt"
    assert run_command(["average", "--out", str(out), str(best_pt), str(copy)]) == 0
    assert "averaged 2 checkpoints" in capsys.readouterr().out
    original, avg = load_checkpoint(best_pt)["model"], load_checkpoint(out)["model"]
    assert avg.keys() == original.keys()
    assert all(torch.equal(avg[k], original[k]) for k in original)
    assert load_checkpoint(out)["train_state"] is None


def test_average_of_different_checkpoints_is_the_mean(best_pt, noisy_pt, tmp_path):
    out = tmp_path / "avg.pt"
    assert run_command(["average", "--out", str(out), str(best_pt), str(noisy_pt)]) == 0
    a, b = load_checkpoint(best_pt)["model"], load_checkpoint(noisy_pt)["model"]
    avg = load_checkpoint(out)["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a)
    for k in a:
        expected = ((a[k].double() + b[k].double()) / 2).to(a[k].dtype)
        assert torch.allclose(avg[k], expected, atol=1e-7), k


def _fake_checkpoint(path: Path, value: float) -> Path:
    return save_checkpoint(path, {"config": {}, "spm": {"src": b"s", "tgt": b"t"},
                                  "model": {"w": torch.full((2, 3), value)}})


def test_average_last_n_picks_by_step(tmp_path, capsys):
    run = tmp_path / "run"
    # Unpadded names: lexical order (step1000 < step200 < step30) differs from step order.
    for step in (30, 200, 1000, 45):
        _fake_checkpoint(run / f"step{step}.pt", float(step))
    _fake_checkpoint(run / "best.pt", -1.0)
    _fake_checkpoint(run / "last.pt", -1.0)
    assert [p.name for p in periodic_checkpoints(run)] == \
        ["step30.pt", "step45.pt", "step200.pt", "step1000.pt"]
    out = tmp_path / "avg.pt"
    assert run_command(["average", "--out", str(out), "--last", "2", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "step200.pt" in printed and "step1000.pt" in printed and "step45.pt" not in printed
    data = load_checkpoint(out)
    assert data["averaged_from"] == ["step200.pt", "step1000.pt"]
    assert torch.equal(data["model"]["w"], torch.full((2, 3), 600.0))
    assert run_command(["average", "--out", str(out), "--last", "3", str(run)]) == 0
    assert torch.allclose(load_checkpoint(out)["model"]["w"], torch.full((2, 3), 415.0))


def test_average_errors(tmp_path, best_pt):
    run = tmp_path / "run"
    _fake_checkpoint(run / "step100.pt", 1.0)
    _fake_checkpoint(run / "step200.pt", 2.0)
    out = str(tmp_path / "avg.pt")
    with pytest.raises(UserError, match="at least 2 checkpoints"):
        run_command(["average", "--out", out, str(best_pt)])
    with pytest.raises(UserError, match="--last must be at least 2"):
        run_command(["average", "--out", out, "--last", "1", str(run)])
    with pytest.raises(CheckpointError, match="has 2 periodic checkpoints.*--last 3 needs 3"):
        run_command(["average", "--out", out, "--last", "3", str(run)])
    with pytest.raises(CheckpointError, match="run directory not found"):
        run_command(["average", "--out", out, "--last", "2", str(tmp_path / "nope")])
    with pytest.raises(UserError, match="is a directory: use --last N"):
        run_command(["average", "--out", out, str(run), str(best_pt)])
    with pytest.raises(UserError, match="exactly one RUN_DIR"):
        run_command(["average", "--out", out, "--last", "2", str(run), str(run)])
    with pytest.raises(UserError, match="one of the checkpoints being averaged"):
        run_command(["average", "--out", str(run / "step100.pt"), str(run / "step100.pt"),
                     str(run / "step200.pt")])
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        run_command(["average", "--out", out, str(best_pt), str(tmp_path / "missing.pt")])
    assert not Path(out).exists()


# ----------------------------------------------------------------------------- a run's history
def test_keep_every_keeps_a_history_that_evaluate_run_scores_and_draws(reverse_corpus, tmp_path,
                                                                        capsys):
    """Periodic checkpoints every 10 updates, the last 2 kept, and every 20th kept as well:
    averaging still takes the last ones; `evaluate --run` scores each kept one and draws
    the curve beside the validation BLEU."""
    from helpers import tiny_config

    from translator.training.pairs import train_run

    run = tmp_path / "run"
    cfg = tiny_config(max_steps=60, save_every=10, keep_periodic=2, keep_every=20,
                      eval_every=30, average_last=2)
    summary = train_run(cfg, reverse_corpus, SRC, TGT, run, progress=False,
                        echo=lambda message: None)
    kept = [p.name for p in periodic_checkpoints(run)]
    assert kept == ["step0000020.pt", "step0000040.pt", "step0000050.pt", "step0000060.pt"]
    assert summary["averaged_from"] == ["step0000050.pt", "step0000060.pt"]

    rc = run_command(["evaluate", "--run", str(run), "--data", str(reverse_corpus), "--src",
                      SRC, "--tgt", TGT, "--beam", "1", "--threads", "1", "--json"])
    assert rc == 0
    history = json.loads((run / f"history.{SPLIT}.json").read_text())
    assert json.loads(capsys.readouterr().out) == history
    assert [p["step"] for p in history["points"]] == [20, 40, 50, 60]
    assert all(0 <= p["bleu"] <= 100 and "nrefs:1" in p["signatures"]["bleu"]
               for p in history["points"])
    assert history["points"][-1]["bleu"] > history["points"][0]["bleu"]  # it learns
    assert (run / f"history.{SPLIT}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with pytest.raises(UserError, match="no periodic checkpoints"):
        run_command(["evaluate", "--run", str(tmp_path), "--data", str(reverse_corpus),
                     "--src", SRC, "--tgt", TGT])
    with pytest.raises(UserError, match="give no --checkpoint"):
        run_command(["evaluate", "--run", str(run), "--hyp", str(run / "x"), "--data",
                     str(reverse_corpus), "--src", SRC, "--tgt", TGT])


def test_checkpoint_evaluations_keep_each_segments_confidence_and_its_correlation(
        best_pt, noisy_pt, files):
    """The model's confidence per segment, kept beside sentence chrF, and how well the one
    follows the other on the set (a reference-free signal judged against the references)."""
    src = read_split_files(files)
    results = evaluate_checkpoints([str(best_pt), str(noisy_pt)], *src, beam_size=1,
                                   threads=1, bootstrap=0)
    for result in results:
        segments = result["segments"]
        assert len(segments) == files["n"]
        assert all(0.0 <= s["confidence"] <= 1.0 and 0.0 <= s["chrf"] <= 100.0
                   for s in segments)
        corr = result["confidence"]
        assert corr["segments"] == files["n"]
        assert -1.0 <= corr["pearson"] <= 1.0 and -1.0 <= corr["spearman"] <= 1.0
    # the trained model is surer of its output than the damaged one, and right to be
    good, bad = ([s["confidence"] for s in r["segments"]] for r in results)
    assert sum(good) / len(good) > sum(bad) / len(bad)


def read_split_files(files: dict) -> tuple[list[str], list[str]]:
    return (files["src"].read_text().splitlines(), files["ref"].read_text().splitlines())
