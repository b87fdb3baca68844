"""translator/evaluation/significance.py against sacreBLEU's own command line on the same files:
confidence intervals, paired bootstrap and paired approximate randomization, with one and with
two references per segment; and the intervals of the differences, which sacreBLEU lacks."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from translator.data.corpus import CorpusError
from translator.evaluation.significance import confidence_intervals, paired_test

SACREBLEU = Path(sys.executable).parent / "sacrebleu"
WORDS = ("a man woman dog child ball street park runs jumps sits red blue green big small "
         "in on the with near two three playing walking water grass snow").split()


def noisy(lines: list[str], rate: float, rng: random.Random) -> list[str]:
    """Each word replaced by a random one with probability `rate`, sometimes dropped."""
    out = []
    for line in lines:
        words = [w if rng.random() > rate else rng.choice(WORDS + [""]) for w in line.split()]
        out.append(" ".join(w for w in words if w) + " .")
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Two reference streams and three systems of 80 segments (the third equal to the first)."""
    rng = random.Random(7)
    ref = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) + " ." for _ in range(80)]
    texts = {"ref1": ref, "ref2": noisy([r[:-2] for r in ref], 0.2, rng),
             "base": noisy([r[:-2] for r in ref], 0.35, rng),
             "better": noisy([r[:-2] for r in ref], 0.15, rng)}
    texts["same"] = texts["base"]
    root = tmp_path_factory.mktemp("significance")
    paths = {}
    for name, lines in texts.items():
        paths[name] = root / f"{name}.txt"
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def run_sacrebleu(*args: str) -> str:
    done = subprocess.run([str(SACREBLEU), *args, "-m", "bleu", "chrf", "ter", "-w", "4"],
                          capture_output=True, text=True, timeout=300,
                          env={"SACREBLEU_SEED": "12345", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("refs", [["ref1"], ["ref1", "ref2"]], ids=["one-ref", "two-refs"])
def test_confidence_intervals_equal_sacrebleu_cli(files, refs):
    cli = json.loads(run_sacrebleu(*[str(files[r]) for r in refs], "-i", str(files["base"]),
                                   "--confidence"))
    ours = confidence_intervals(lines(files["base"]), [lines(files[r]) for r in refs])
    for key, entry in zip(("bleu", "chrf", "ter"), cli):
        assert round(ours[key]["score"], 4) == pytest.approx(entry["score"], abs=1e-4)
        assert round(ours[key]["mean"], 4) == pytest.approx(entry["confidence_mean"], abs=1e-4)
        assert round(ours[key]["ci"], 4) == pytest.approx(entry["confidence_var"], abs=1e-4)
        assert ours[key]["signature"] == entry["signature"]
        assert f"nrefs:{len(refs)}" in entry["signature"]


P_VALUE = re.compile(r"\(p = (\d+\.\d+)\)")
NUMBER = re.compile(r"-?\d+\.\d+")


def parse_table(text: str) -> list[dict]:
    """sacreBLEU's text table: per system row, the numbers of its cells (score, mean, ci with
    --paired-bs; the score alone with --paired-ar) and its p-values."""
    rows: list[dict] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        if P_VALUE.search(line):
            rows[-1]["p"] = [float(p) for p in P_VALUE.findall(line)]
        elif NUMBER.search(line):
            cells = line.split("│")[2:-1]
            rows.append({"cells": [[float(x) for x in NUMBER.findall(c)] for c in cells],
                         "p": []})
    return rows


@pytest.mark.parametrize("test", ["bs", "ar"])
@pytest.mark.parametrize("refs", [["ref1"], ["ref1", "ref2"]], ids=["one-ref", "two-refs"])
def test_paired_tests_equal_sacrebleu_cli(files, test, refs):
    systems = ["base", "better"]
    cli = parse_table(run_sacrebleu(*[str(files[r]) for r in refs], "-i",
                                    *[str(files[s]) for s in systems], f"--paired-{test}",
                                    "-f", "text"))
    ours = paired_test([lines(files[s]) for s in systems], [lines(files[r]) for r in refs],
                       test=test)
    assert len(cli) == len(ours) == 2
    for row, mine, name in zip(cli, ours, systems):
        alone = confidence_intervals(lines(files[name]), [lines(files[r]) for r in refs])
        for numbers, key in zip(row["cells"], ("bleu", "chrf", "ter")):
            assert mine[key]["score"] == pytest.approx(numbers[0], abs=1e-4)
            if test == "bs":  # the command line prints the intervals of bootstrap tests only
                assert mine[key]["mean"] == pytest.approx(numbers[1], abs=1e-4)
                assert mine[key]["ci"] == pytest.approx(numbers[2], abs=1e-4)
            elif name == systems[0]:  # AR: the baseline's interval is `--confidence`'s
                assert len(numbers) == 1
                assert mine[key]["mean"] == pytest.approx(alone[key]["mean"], abs=1e-4)
                assert mine[key]["ci"] == pytest.approx(alone[key]["ci"], abs=1e-4)
            else:  # the others' come from resamples drawn after the AR trials
                assert abs(mine[key]["mean"] - alone[key]["mean"]) < alone[key]["ci"]
                assert mine[key]["ci"] == pytest.approx(alone[key]["ci"], rel=0.3)
    for p, key in zip(cli[1]["p"], ("bleu", "chrf", "ter")):
        assert ours[1][key]["p_value"] == pytest.approx(p, abs=1e-4)
    assert ours[0]["bleu"]["p_value"] is None and ours[0]["bleu"]["difference"] is None
    assert f"|{test}:" in ours[0]["signatures"]["bleu"]


def test_difference_interval_holds_the_observed_difference_and_its_sign(files):
    base, better, same = (lines(files[n]) for n in ("base", "better", "same"))
    ref = [lines(files["ref1"])]
    out = paired_test([base, better, same], ref)
    for key in ("bleu", "chrf"):  # higher is better: the better system's difference is > 0
        diff, observed = out[1][key]["difference"], out[1][key]["score"] - out[0][key]["score"]
        assert 0 < diff["low"] <= observed <= diff["high"]
        assert diff["low"] < diff["mean"] < diff["high"]
    ter = out[1]["ter"]["difference"]
    assert ter["high"] < 0  # fewer edits
    assert out[2]["bleu"]["difference"] == {"mean": 0.0, "low": 0.0, "high": 0.0}
    assert out[2]["bleu"]["p_value"] == 1.0  # identical outputs are not "significant"


def test_bad_inputs_say_what_is_wrong(files):
    base, ref = lines(files["base"]), lines(files["ref1"])
    with pytest.raises(CorpusError, match="79 hypotheses for 80 reference lines"):
        confidence_intervals(base[:-1], [ref])
    with pytest.raises(CorpusError, match="reference files differ in length"):
        confidence_intervals(base, [ref, ref[:-1]])
    with pytest.raises(CorpusError, match="no references"):
        confidence_intervals([], [[]])
    with pytest.raises(ValueError, match="'bs' or 'ar'"):
        paired_test([base, base], [ref], test="t")
    with pytest.raises(ValueError, match="baseline and at least one"):
        paired_test([base], [ref])


# ----------------------------------------------------------------------------- the command
def evaluate(capsys, *args: str) -> tuple[int, str, str]:
    from translator.cli.main import main

    rc = main(["evaluate", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_evaluate_scores_hypothesis_files_against_several_references(files, capsys):
    refs = [lines(files["ref1"]), lines(files["ref2"])]
    rc, out, _ = evaluate(capsys, "--hyp", str(files["base"]), str(files["better"]),
                          "--ref", str(files["ref1"]), "--ref", str(files["ref2"]), "--json")
    assert rc == 0
    document = json.loads(out)
    assert document["references"] == 2 and document["segments"] == 80
    want = paired_test([lines(files["base"]), lines(files["better"])], refs)
    base, better = document["results"]
    assert (base["system"], better["system"]) == (str(files["base"]), str(files["better"]))
    assert "checkpoint" not in base  # a hypothesis file is no checkpoint
    for key in ("bleu", "chrf", "ter"):
        assert better[key] == pytest.approx(want[1][key]["score"])
        assert better["p_values"][key] == pytest.approx(want[1][key]["p_value"])
        assert better["difference"][key] == pytest.approx(want[1][key]["difference"])
        assert "nrefs:2" in better["signatures"][key]
    assert base["p_values"] is None and base["difference"] is None


def test_evaluate_paired_ar_and_the_table(files, capsys):
    rc, out, _ = evaluate(capsys, "--hyp", str(files["base"]), str(files["better"]),
                          "--ref", str(files["ref1"]), "--paired-ar")
    assert rc == 0
    assert out.splitlines()[0].split()[0] == "system"
    assert "paired approximate randomization, 10000 trials, seed 12345" in out
    assert re.search(r"^BLEU\s+nrefs:1\|case:mixed\|", out, re.M)


def test_evaluate_refuses_a_hypothesis_file_of_the_wrong_length(files, capsys, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("\n".join(lines(files["base"])[:79]) + "\n", encoding="utf-8")
    rc, out, err = evaluate(capsys, "--hyp", str(files["base"]), str(short),
                            "--ref", str(files["ref1"]))
    assert rc != 0 and out == ""
    assert f"{short} has 79 lines where 80 are expected" in err
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 30)
    rc, _, err = evaluate(capsys, "--hyp", str(binary), "--ref", str(files["ref1"]))
    assert rc != 0 and "not valid UTF-8" in err
    rc, _, err = evaluate(capsys, "--ref", str(files["ref1"]))
    assert rc != 0 and "--checkpoint CKPT" in err and "--hyp FILE" in err
    rc, _, err = evaluate(capsys, "--hyp", str(files["base"]), "--ref", str(files["ref1"]),
                          "--ref", str(short))
    assert rc != 0 and "line counts differ" in err


def test_evaluate_exports_csv_and_latex(files, capsys, tmp_path):
    import csv
    import io

    odd = tmp_path / "ours_&_50%#1.txt"  # a name LaTeX must not read as markup
    odd.write_bytes(files["better"].read_bytes())
    common = ["--hyp", str(files["base"]), str(odd), "--ref", str(files["ref1"]),
              "--bootstrap", "200"]
    rc, out, _ = evaluate(capsys, *common, "--json")
    results = json.loads(out)["results"]
    rc, out, _ = evaluate(capsys, *common, "--format", "csv")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["system"] for r in rows] == [str(files["base"]), str(odd)]
    for row, result in zip(rows, results):
        for key in ("bleu", "chrf", "ter"):
            assert float(row[key]) == pytest.approx(result[key], abs=0.005)
            assert row[f"{key}_signature"] == result["signatures"][key]
    assert rows[0]["bleu_p"] == "" and rows[0]["bleu_diff_low"] == ""
    assert float(rows[1]["bleu_p"]) == pytest.approx(results[1]["p_values"]["bleu"], abs=5e-5)
    assert float(rows[1]["bleu_diff_low"]) == pytest.approx(
        results[1]["difference"]["bleu"]["low"], abs=0.005)

    rc, out, _ = evaluate(capsys, *common, "--format", "latex")
    assert rc == 0
    assert out.count(r"\begin{tabular}") == out.count(r"\end{tabular}") == 1
    # braces balance once the escaped ones are set aside
    assert out.count("{") - out.count(r"\{") == out.count("}") - out.count(r"\}")
    assert r"ours\_\&\_50\%\#1.txt" in out and "ours_&" not in out
    better_row = next(ln for ln in out.splitlines() if r"ours\_" in ln and ln.endswith(r"\\"))
    cells = better_row[:-2].split(" & ")
    assert len(cells) == 4 and all(r"$\pm$" in c for c in cells[1:])
    marked = [r"$^\dagger$" in c for c in cells[1:]]
    assert marked == [results[1]["significant"][k] for k in ("bleu", "chrf", "ter")]
    assert "paired bootstrap resampling, 200 samples, seed 12345" in out
    assert r"\texttt{nrefs:1|case:mixed" in out


def test_sentence_scores_are_sacrebleus_with_one_or_several_references(files):
    import sacrebleu

    from translator.evaluation.sentences import sentence_scores

    hyps, ref1, ref2 = (lines(files[n]) for n in ("base", "ref1", "ref2"))
    got = sentence_scores(hyps, [ref1, ref2])
    for i in (0, 17, 79):
        assert got[i]["chrf"] == pytest.approx(
            sacrebleu.sentence_chrf(hyps[i], [ref1[i], ref2[i]]).score)
        assert got[i]["bleu"] == pytest.approx(
            sacrebleu.sentence_bleu(hyps[i], [ref1[i], ref2[i]]).score)
    assert sentence_scores(ref1, [ref1])[0] == {"chrf": pytest.approx(100.0),
                                                "bleu": pytest.approx(100.0)}


def test_hypothesis_files_get_segment_scores_but_no_confidence(files, capsys):
    rc, out, _ = evaluate(capsys, "--hyp", str(files["base"]), "--ref", str(files["ref1"]),
                          "--json")
    (result,) = json.loads(out)["results"]
    assert len(result["segments"]) == 80 and result["confidence"] is None
    assert set(result["segments"][0]) == {"chrf", "bleu"}


def test_evaluate_analysis_in_the_json(files, capsys, tmp_path):
    from translator.evaluation.analysis import ngram_differences

    base, better, ref = (lines(files[n]) for n in ("base", "better", "ref1"))
    rc, out, _ = evaluate(capsys, "--hyp", str(files["base"]), str(files["better"]),
                          "--ref", str(files["ref1"]), "--bootstrap", "0", "--json",
                          "--analysis")
    assert rc == 0
    analysis = json.loads(out)["analysis"]
    assert analysis["frequencies_from"] == "the references"
    assert "by_source_length" not in analysis  # no source given
    assert analysis["ngram_differences"] == [ngram_differences([ref], base, better)]
    assert len(analysis["word_f_by_frequency"]["f"]) == 2
    src = tmp_path / "src.txt"
    src.write_text("\n".join(f"quelle {i}" for i in range(80)) + "\n", encoding="utf-8")
    train = tmp_path / "train.txt"
    train.write_text("a man runs\n", encoding="utf-8")
    rc, out, _ = evaluate(capsys, "--hyp", str(files["base"]), "--src", str(src), "--ref",
                          str(files["ref1"]), "--bootstrap", "0", "--json", "--analysis",
                          "--train-target", str(train))
    analysis = json.loads(out)["analysis"]
    assert analysis["by_source_length"]["segments"] == [80, 0, 0, 0, 0]
    assert analysis["frequencies_from"] == str(train)
    rc, _, err = evaluate(capsys, "--hyp", str(files["base"]), "--ref", str(files["ref1"]),
                          "--analysis")
    assert rc != 0 and "add --json" in err


def test_tiny_and_tied_systems_get_intervals_and_no_false_significance():
    """sacreBLEU 2.x cannot average resamples where BLEU is a plain 0.0 among numpy floats
    (its `--confidence` raises TypeError): the same resamples are averaged here instead; and a
    system tied with the baseline is not significantly different (p = 1)."""
    ours = confidence_intervals(["x", "y"], [["x", "z"]])
    assert ours["bleu"]["score"] == 0.0 and ours["bleu"]["ci"] == 0.0
    assert 0 < ours["chrf"]["mean"] < 100 and ours["chrf"]["ci"] > 0
    for test in ("bs", "ar"):
        tied = paired_test([["x", "y"], ["x", "w"]], [["x", "z"]], test=test)[1]
        assert tied["bleu"]["p_value"] == 1.0
        assert tied["chrf"]["p_value"] == 1.0  # same chrF: one word right, one wrong each
