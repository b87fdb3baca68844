"""`translator backtranslate`: monolingual lines translated into a parallel corpus that `train
--extra` reads, by parts that an interrupted run resumes, refusing the wrong direction and any
line of the evaluation sets."""

from __future__ import annotations

import gzip
import json
import random

import pytest
import torch
from helpers import SRC, TGT, WORDS

from translator.cli.main import main
from translator.data.corpus import CorpusError, read_lines
from translator.inference import backtranslate as bt


def mono_lines(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))) for _ in range(n)]


def write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    return path


def test_the_cli_writes_a_corpus_of_inputs_and_translations(tmp_path, trained_run,
                                                             trained_translator, reverse_corpus,
                                                             capsys):
    lines = mono_lines(40)
    mono = write_gz(tmp_path / f"mono.{SRC}.gz", lines)
    out = tmp_path / "synth"
    assert main(["backtranslate", "--checkpoint", str(trained_run["dir"] / "best.pt"), "-i",
                 str(mono), "--out", str(out), "--precision", "fp32", "--data",
                 str(reverse_corpus), "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lines"] == 40 and summary["resumed_lines"] == 0
    assert read_lines(out / f"train.{SRC}.gz") == lines
    assert read_lines(out / f"train.{TGT}.gz") == trained_translator.translate(lines,
                                                                               beam_size=1)
    assert json.loads((out / "backtranslate.json").read_text())["beam"] == 1
    again = tmp_path / "int8"  # the CPU's default precision: int8
    assert main(["backtranslate", "--checkpoint", str(trained_run["dir"] / "best.pt"), "-i",
                 str(mono), "--out", str(again), "--data", str(reverse_corpus), "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "int8"


def test_the_wrong_direction_and_evaluation_lines_are_refused(tmp_path, trained_run,
                                                              reverse_corpus, capsys):
    checkpoint = str(trained_run["dir"] / "best.pt")
    wrong = write_gz(tmp_path / f"mono.{TGT}.gz", mono_lines(5))
    assert main(["backtranslate", "--checkpoint", checkpoint, "-i", str(wrong), "--out",
                 str(tmp_path / "a"), "--data", str(reverse_corpus), "-q"]) != 0
    assert f"needs a {TGT}->xx checkpoint" in capsys.readouterr().err
    test_line = (reverse_corpus / f"test_2016_flickr.{SRC}").read_text().splitlines()[3]
    leaky = write_gz(tmp_path / f"mono.{SRC}.gz", [*mono_lines(5), test_line])
    assert main(["backtranslate", "--checkpoint", checkpoint, "-i", str(leaky), "--out",
                 str(tmp_path / "b"), "--data", str(reverse_corpus), "-q"]) != 0
    assert "holds 1 line(s) of the evaluation sets" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing written
    with pytest.raises(CorpusError, match="give --lang"):
        bt.check_direction(bt.language_of(tmp_path / "mono.txt"), SRC, TGT, "mono.txt")
    # a --data that is not there would check nothing: refused, before any decoding
    assert main(["backtranslate", "--checkpoint", checkpoint, "-i", str(leaky), "--out",
                 str(tmp_path / "c"), "--data", str(tmp_path / "no-such-corpus"), "-q"]) != 0
    assert "no-such-corpus is not a directory" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    # int8 is a CPU precision; a GPU that is not there is said so
    good = write_gz(tmp_path / f"ok.{SRC}.gz", mono_lines(5))
    assert main(["backtranslate", "--checkpoint", checkpoint, "-i", str(good), "--out",
                 str(tmp_path / "d"), "--device", "cuda", "--precision", "int8",
                 "--data", str(reverse_corpus), "-q"]) != 0
    assert ("int8 is for CPUs" if torch.cuda.is_available() else "CUDA is not available") \
        in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_an_interrupted_run_resumes_at_its_first_missing_part(tmp_path):
    lines = mono_lines(23)
    calls: list[int] = []

    def upper(part):
        calls.append(len(part))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return [line.upper() for line in part]

    with pytest.raises(KeyboardInterrupt):
        bt.backtranslate(upper, lines, tmp_path, "aa", "bb", part_lines=5)
    assert sorted(p.name for p in tmp_path.glob("part-*")) == [
        "part-00000.aa.gz", "part-00000.bb.gz", "part-00001.aa.gz", "part-00001.bb.gz"]
    calls.clear()
    summary = bt.backtranslate(lambda part: [line.upper() for line in part], lines, tmp_path,
                               "aa", "bb", part_lines=5)
    assert summary["resumed_lines"] == 10 and summary["lines"] == 23
    assert read_lines(tmp_path / "train.aa.gz") == lines
    assert read_lines(tmp_path / "train.bb.gz") == [line.upper() for line in lines]


def test_parts_of_another_run_are_never_resumed_from(tmp_path):
    lines = mono_lines(12)
    bt.backtranslate(lambda part: part, lines, tmp_path, "aa", "bb", part_lines=5,
                     identity={"beam": 1})
    for other, identity in ((lines[:7], {"beam": 1}), (mono_lines(12, seed=9), {"beam": 1}),
                            (lines, {"beam": 5})):
        with pytest.raises(CorpusError, match="holds the parts of another back-translation"):
            bt.backtranslate(lambda part: part, other, tmp_path, "aa", "bb", part_lines=5,
                             identity=identity)
    again = bt.backtranslate(lambda part: part, lines, tmp_path, "aa", "bb", part_lines=5,
                             identity={"beam": 1})
    assert again["resumed_lines"] == 12 and read_lines(tmp_path / "train.bb.gz") == lines


def test_sampling_draws_other_translations_reproducibly(trained_translator):
    import torch

    from translator.inference.search import SearchConfig

    lines = mono_lines(30)
    greedy = trained_translator.translate(lines, beam_size=1)
    torch.manual_seed(3)
    hot = trained_translator.translate(lines, beam_size=1, temperature=5.0)
    torch.manual_seed(3)
    assert trained_translator.translate(lines, beam_size=1, temperature=5.0) == hot
    assert hot != greedy  # a hot distribution strays from the most likely tokens
    torch.manual_seed(3)
    assert trained_translator.translate(lines, beam_size=1, temperature=5.0, top_k=1) == greedy
    with pytest.raises(ValueError, match="beam size 1"):
        SearchConfig(beam_size=5, temperature=1.0)
