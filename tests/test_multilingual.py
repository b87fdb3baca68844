"""One model for every direction (translator/data/multilingual.py): the directions a run trains,
its data, and a tiny multilingual model of the three-way synthetic task (conftest's
`multilingual_run`: xx, yy and zz, each a deterministic transform of a shared sentence)
trained once and then translating, evaluating, calibrating and back-translating per
direction."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys

import pytest
from helpers import LANGS, WORDS, three_way, tiny_config

from translator.checkpoint import CheckpointError, load_checkpoint
from translator.cli.main import main
from translator.config import ConfigError
from translator.data.multilingual import (
    multilingual_config,
    prepare_multilingual,
    resolve_directions,
    run_validation_sets,
    validation_sets,
)
from translator.defaults import MULTILINGUAL_VAL_SENTENCES
from translator.errors import UserError
from translator.inference.translator import Translator
from translator.languages import lang_token
from translator.training.distributed import Ranks
from translator.training.epochs import EpochPlan
from translator.training.schedule import budget_stop_reason
from translator.training.state import TrainState
from translator.training.validation import record_validation

DIRECTIONS = [f"{s}-{t}" for s in LANGS for t in LANGS if s != t]


# ----------------------------------------------------------------------------- directions
def test_every_direction_among_the_languages_or_english_centric_or_a_subset():
    assert resolve_directions(["en", "de", "fr", "cs"]) == [
        "en-de", "en-fr", "en-cs", "de-en", "de-fr", "de-cs", "fr-en", "fr-de", "fr-cs",
        "cs-en", "cs-de", "cs-fr"]
    assert resolve_directions(["en", "de", "fr"], english_centric=True) == [
        "de-en", "en-de", "fr-en", "en-fr"]
    assert resolve_directions(["en", "de", "fr"], "de-fr,fr-de") == ["de-fr", "fr-de"]


@pytest.mark.parametrize("langs, directions, centric, message", [
    (["en"], None, False, "at least two"),
    (["en", "en"], None, False, "at least two different"),
    (["en", "d3"], None, False, "not a language code"),
    (["en", "de"], "de-fr", False, "not a pair of --langs"),
    (["de", "fr"], None, True, "needs en"),
    (["en", "de"], "de-en", True, "not both"),
])
def test_bad_language_choices_are_refused_clearly(langs, directions, centric, message):
    with pytest.raises((ConfigError, UserError), match=message):
        resolve_directions(langs, directions, centric)


def test_langs_excludes_src_and_tgt_on_the_command_line(three_way_corpus, tmp_path, capsys):
    code = main(["train", "--data", str(three_way_corpus), "--langs", "xx,yy", "--src", "xx",
                 "--out", str(tmp_path / "run"), "--preset", "tiny", "--max-steps", "1"])
    assert code != 0
    assert "trains every direction among its languages" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()
    code = main(["train", "--data", str(three_way_corpus), "--directions", "xx-yy",
                 "--out", str(tmp_path / "run"), "--preset", "tiny", "--max-steps", "1"])
    assert code != 0
    assert "give --langs too" in capsys.readouterr().err


def test_prepare_encodes_a_multilingual_run_ahead_and_train_reads_it(three_way_corpus, tmp_path,
                                                                     capsys, caplog):
    """`translator prepare --langs` (large corpora, DDP: encode once, ahead of training):
    the shared vocabulary, every direction's entry and their union, which train then reads."""
    import logging

    cache = tmp_path / "cache"
    common = ["--data", str(three_way_corpus), "--langs", "xx,yy,zz", "--directions",
              "xx-yy,yy-xx", "--preset", "tiny", "--cache-dir", str(cache), "-q"]
    assert main(["prepare", *common, "--prepare-processes", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["pairs"] == first["kept"] == 2 * 2000 and not first["from_cache"]  # 2 ways
    assert "/multi/" in first["cache"]
    assert main(["prepare", *common]) == 0
    assert json.loads(capsys.readouterr().out)["from_cache"]
    assert main(["prepare", *common, "--src", "xx"]) != 0
    assert "leave out --src and --tgt" in capsys.readouterr().err
    caplog.set_level(logging.INFO, logger="translator.training.trainer")
    assert main(["train", *common, "--out", str(tmp_path / "run"), "--max-steps", "2",
                 "--threads", "1", "--no-test"]) == 0
    assert f"memory-mapped from {first['cache']}" in caplog.text


def test_the_validation_sample_is_the_same_lines_in_every_direction(three_way_corpus):
    sets = validation_sets(three_way_corpus, ["xx-yy", "zz-xx"], limit=10)
    assert all(len(c) == 10 for c in sets.values())
    # the xx side of both directions: the same sentences, in the same order
    assert sets["xx-yy"].src == sets["zz-xx"].tgt
    for xx, yy in zip(sets["xx-yy"].src, sets["xx-yy"].tgt):
        assert three_way(xx.split())["yy"] == yy
    assert validation_sets(three_way_corpus, ["xx-yy"], limit=10)["xx-yy"].src == \
        sets["xx-yy"].src  # fixed: drawn with the same seed every time


def test_training_batches_mix_directions(three_way_corpus, tmp_path):
    """The directions are stored one after another; an epoch's batches draw pairs of similar
    length from all of them, each source ending in its target language's token."""
    cfg = multilingual_config(tiny_config(), LANGS, DIRECTIONS)
    prepared = prepare_multilingual(cfg, three_way_corpus, tmp_path / "cache", processes=1,
                                    progress=False)
    corpus, tok = prepared.corpus, prepared.src_tok
    per_direction = len(corpus) // len(DIRECTIONS)
    assert len(corpus) == per_direction * len(DIRECTIONS)
    for i in range(0, len(corpus), 997):
        target = DIRECTIONS[i // per_direction].split("-")[1]
        assert corpus.pair(i)[0][-1] == tok.symbol_id(lang_token(target))
    batches = EpochPlan(corpus, corpus.batch_lengths(), cfg.train, Ranks()).batches(0)
    mixed = [len({i // per_direction for i in idx}) for idx in batches if len(idx) >= 60]
    assert len(mixed) > len(batches) // 2
    assert set(mixed) == {len(DIRECTIONS)}, mixed  # each such batch holds every direction


def test_the_mean_of_the_directions_decides_the_best_and_early_stopping():
    """A validation is booked by its mean BLEU (evaluate_directions' "bleu", which
    test_the_run_trains_every_direction_and_logs_each checks is the directions' mean): one
    direction's gain does not make it the best when the mean falls, and validations without a
    gain of the mean count towards `patience`."""
    state, records = TrainState(), []
    train = tiny_config(patience=2).train
    results = [{"xx-yy": 10.0, "yy-xx": 20.0}, {"xx-yy": 30.0, "yy-xx": 2.0},
               {"xx-yy": 1.0, "yy-xx": 22.0}, {"xx-yy": 16.0, "yy-xx": 15.0}]
    for step, scores in enumerate(results, 1):
        state.step = step * 100
        mean = statistics.mean(scores.values())
        record_validation(state, {"loss": 1.0, "bleu": mean, "directions": scores}, 1.0,
                          records.append)
        if step < 3:
            assert budget_stop_reason(train, state) == ""
    assert [r["best_bleu"] for r in records] == [15.0, 16.0, 16.0, 16.0]
    assert state.best_step == 200 and state.best_directions == results[1]
    assert state.bad_evals == 2  # 15.5 is no gain over 16
    assert "early stopping: no BLEU gain in 2 validations" in budget_stop_reason(train, state)


def test_a_runs_validation_is_a_fixed_sample_per_direction_by_default(tmp_path):
    """A multilingual run validates on MULTILINGUAL_VAL_SENTENCES lines of each direction
    (train.eval_max_sentences if set), a run of one pair on its whole split."""
    rng = random.Random(7)
    lines = [three_way([rng.choice(WORDS) for _ in range(5)]) for _ in range(450)]
    for lang in ("xx", "yy"):
        (tmp_path / f"val.{lang}").write_text("".join(line[lang] + "\n" for line in lines))
    cfg = multilingual_config(tiny_config(), ["xx", "yy"], ["xx-yy", "yy-xx"])
    sets = run_validation_sets(cfg, tmp_path, None, None)
    assert MULTILINGUAL_VAL_SENTENCES < 450  # (the premise: a sample, not the whole split)
    assert {len(c) for c in sets.values()} == {MULTILINGUAL_VAL_SENTENCES}
    assert sets["xx-yy"].src == sets["yy-xx"].tgt
    smaller = cfg.override("train", eval_max_sentences=50)
    assert {len(c) for c in run_validation_sets(smaller, tmp_path, None, None).values()} == {50}
    pair = run_validation_sets(tiny_config(), tmp_path, "xx", "yy")
    assert list(pair) == ["xx-yy"] and len(pair["xx-yy"]) == 450


# ----------------------------------------------------------------------------- the model
def test_the_run_trains_every_direction_and_logs_each(multilingual_run):
    summary = multilingual_run["summary"]
    assert set(summary["directions"]) == set(DIRECTIONS)
    for direction, scores in summary["directions"].items():
        assert scores["test_2016_flickr_bleu_beam5"] >= 85, (direction, scores)
    records = [json.loads(line) for line in
               (multilingual_run["dir"] / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r["type"] == "valid"]
    assert set(valid[-1]["directions"]) == set(DIRECTIONS)
    best = next(r for r in valid if r["step"] == summary["best_step"])
    assert best["bleu"] == max(r["bleu"] for r in valid)  # chosen on the mean of directions
    assert summary["best_val_bleu_directions"] == best["directions"]  # the summary's too
    mean = sum(valid[-1]["directions"].values()) / len(DIRECTIONS)
    assert valid[-1]["bleu"] == pytest.approx(mean, abs=0.01)
    for direction in DIRECTIONS:
        target = direction.split("-")[1]
        assert (multilingual_run["dir"] / f"test_2016_flickr.beam5.{direction}.{target}"
                ).is_file()


def test_the_checkpoint_names_its_directions_casings_and_calibrations(multilingual_run):
    data = load_checkpoint(multilingual_run["dir"] / "best.pt")
    assert data["meta"]["langs"] == list(LANGS)
    assert data["meta"]["directions"] == DIRECTIONS
    assert "src_lang" not in data["meta"]
    assert set(data["casing"]["langs"]) == set(LANGS)
    assert set(data["confidence"]["directions"]) == set(DIRECTIONS)
    assert data["config"]["vocab"]["symbols"] == [lang_token(lang) for lang in LANGS]


def test_the_language_token_steers_the_output(multilingual_run):
    model = Translator.from_checkpoint(multilingual_run["dir"] / "best.pt")
    words = ["cat", "dog", "sun", "tree"]
    source = " ".join(words)
    into_yy = model.for_pair("xx", "yy").translate([source])[0]
    into_zz = model.for_pair("xx", "zz").translate([source])[0]
    assert into_yy == three_way(words)["yy"]
    assert into_zz == three_way(words)["zz"]
    # from another language, into the same two
    assert model.for_pair("zz", "xx").translate([three_way(words)["zz"]])[0] == source
    assert model.for_pair("zz", "yy").translate([three_way(words)["zz"]])[0] == \
        three_way(words)["yy"]


def test_a_direction_must_be_chosen_and_must_be_one_of_the_model(multilingual_run):
    model = Translator.from_checkpoint(multilingual_run["dir"] / "best.pt")
    assert model.multilingual and model.directions == DIRECTIONS
    with pytest.raises(UserError, match="choose the direction"):
        model.translate(["cat dog"])
    with pytest.raises(UserError, match="not xx-qq"):
        model.for_pair("xx", "qq")
    with pytest.raises(UserError, match="needs both --src and --tgt"):
        model.for_options(None, "yy")
    view = model.for_pair("xx", "yy")
    assert view.model is model.model  # one model in memory
    assert (view.src_lang, view.tgt_lang) == ("xx", "yy")
    assert view.calibration is not None and view.casing is not None
    # a damaged checkpoint: a direction listed whose target's token the vocabulary lacks
    model.meta = {**model.meta, "directions": [*DIRECTIONS, "xx-qq"]}
    with pytest.raises(CheckpointError, match="no <2qq> token"):
        model.for_pair("xx", "qq")


def test_confidence_alignment_and_protected_spans_work_per_direction(multilingual_run):
    model = Translator.from_checkpoint(multilingual_run["dir"] / "best.pt")
    view = model.for_pair("xx", "zz")
    aligned = view.translate_aligned(["cat dog sun"])[0]
    assert aligned.text == "katze hund sonne"
    assert aligned.alignment == [0, 1, 2]
    assert 0 < aligned.confidence <= 1
    # a number is carried through by attention (translator/inference/protect.py), into the
    # chosen direction's language; the tiny model, which never saw a number, may drop a word
    # around it (it did on an AVX2 machine, whose training takes another path by rounding)
    words = view.translate(["cat 1234 dog"])[0].split()
    assert "1234" in words and words[0] == "katze"
    assert set(words) <= {"katze", "1234", "hund"}, words


def test_an_ensemble_of_multilingual_checkpoints_translates_and_is_calibrated_per_direction(
        multilingual_run, three_way_corpus, tmp_path, caplog, capsys):
    import shutil

    members = [str(shutil.copy(multilingual_run["dir"] / name, tmp_path / name))
               for name in ("best.pt", "last.pt")]  # (its calibration file is written here)
    spec = "+".join(members)
    with caplog.at_level("INFO"):
        ensemble = Translator.from_checkpoint(spec)  # fitted on the first load
    assert "fitting its confidence calibration" in caplog.text
    assert ensemble.directions == DIRECTIONS and ensemble.calibration is None
    assert sorted(ensemble.calibrations) == sorted(DIRECTIONS)
    [stored] = tmp_path.glob("best.ensemble-*.json")
    assert sorted(json.loads(stored.read_text())["confidence"]["directions"]) == sorted(
        DIRECTIONS)
    view = ensemble.for_pair("zz", "xx")
    assert view.calibration is ensemble.calibrations["zz-xx"]
    [scored] = view.translate_scored(["katze hund"])
    assert scored.text == "cat dog" and 0 < scored.confidence <= 1
    caplog.clear()
    with caplog.at_level("INFO"):
        again = Translator.from_checkpoint(spec)  # read back, not fitted again
    assert "fitting" not in caplog.text
    assert again.calibrations["zz-xx"].to_dict() == ensemble.calibrations["zz-xx"].to_dict()
    assert main(["calibrate", "--checkpoint", spec, "--data", str(three_way_corpus),
                 "--if-missing"]) == 0
    assert "has a current confidence calibration" in capsys.readouterr().err
    source = tmp_path / "in.zz"
    source.write_text("katze hund\nsonne baum fisch\n")
    assert main(["translate", "--checkpoint", spec, "--src", "zz", "--tgt", "yy", "-i",
                 str(source), "-o", str(tmp_path / "out.yy"), "-q"]) == 0
    assert (tmp_path / "out.yy").read_text() == "perro gato\npez arbol sol\n"


def test_translate_and_evaluate_from_the_command_line(multilingual_run, three_way_corpus,
                                                      tmp_path):
    best = str(multilingual_run["dir"] / "best.pt")
    source = tmp_path / "in.xx"
    source.write_text("cat dog sun\n")
    run = [sys.executable, "-m", "translator"]
    out = subprocess.run([*run, "translate", "--checkpoint", best, "--src", "xx", "--tgt",
                          "zz", "-i", str(source), "-q"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "katze hund sonne\n"
    missing = subprocess.run([*run, "translate", "--checkpoint", best, "-i", str(source)],
                             capture_output=True, text=True)
    assert missing.returncode != 0
    assert "choose the direction" in missing.stderr and "Traceback" not in missing.stderr
    table = subprocess.run([*run, "evaluate", "--checkpoint", best, "--data",
                            str(three_way_corpus), "--all-directions", "--bootstrap", "0"],
                           capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()
            if line.split() and line.split()[0] in [*DIRECTIONS, "mean"]}
    assert set(rows) == {*DIRECTIONS, "mean"}
    assert all(float(row[2]) >= 85 for row in rows.values())  # BLEU
    one = subprocess.run([*run, "evaluate", "--checkpoint", best, "--data",
                          str(three_way_corpus), "--src", "yy", "--tgt", "xx", "--json"],
                         capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    bleu = json.loads(one.stdout)["results"][0]["bleu"]
    assert bleu == pytest.approx(float(rows["yy-xx"][2]), abs=0.01)


def test_every_direction_evaluated_as_csv_with_hypotheses_and_randomization(
        multilingual_run, three_way_corpus, tmp_path, capsys):
    """`evaluate --all-directions` takes evaluate's options that have a meaning per direction
    (CSV with a direction column, --save-hyps, --paired-ar) and refuses those of one
    direction (--analysis, LaTeX) by name; a run's history is a direction's, named by it."""
    from translator.cli.main import main

    best, last = (str(multilingual_run["dir"] / n) for n in ("best.pt", "last.pt"))
    common = ["evaluate", "--checkpoint", best, "--checkpoint", last, "--data",  # both kept
              str(three_way_corpus), "--all-directions"]
    assert main([*common, "--format", "csv", "--bootstrap", "0", "--save-hyps",
                 str(tmp_path / "hyps")]) == 0
    out = capsys.readouterr()
    header, *rows = out.out.splitlines()
    assert header.startswith("direction,system,bleu,")
    assert sorted({row.split(",")[0] for row in rows}) == sorted(DIRECTIONS)
    assert len(rows) == 2 * len(DIRECTIONS)
    hyps = (tmp_path / "hyps" / f"zz-xx.{multilingual_run['dir'].name}.best.hyp")
    xx = (three_way_corpus / "test_2016_flickr.xx").read_text().splitlines()
    lines = hyps.read_text().splitlines()  # the zz-xx translations of the test set
    assert len(lines) == len(xx) and sum(h == r for h, r in zip(lines, xx)) >= 0.8 * len(xx)
    assert len(list((tmp_path / "hyps").glob("*.hyp"))) == 2 * len(DIRECTIONS)
    assert main([*common, "--paired-ar", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {rows[1]["bootstrap"]["test"] for rows in document["directions"].values()} == {"ar"}
    for flag in (["--analysis", "--json"], ["--format", "latex"]):
        assert main([*common, *flag]) != 0
        assert "scores one direction" in capsys.readouterr().err


def test_a_multilingual_runs_history_from_the_command_line_is_per_direction(
        multilingual_run, three_way_corpus, tmp_path, capsys):
    """`evaluate --run` of a multilingual run: each direction's history in its own files
    (history.SPLIT.S-T.json and .png), one direction never overwriting another; --direction
    takes one direction, and never one that contradicts --data's --src and --tgt."""
    import shutil

    from translator.checkpoint_file import periodic_name
    from translator.cli.main import main

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(multilingual_run["dir"] / "metrics.jsonl", run / "metrics.jsonl")
    for step in (100, 200):  # the trained model stands in for two periodic checkpoints
        shutil.copy(multilingual_run["dir"] / "best.pt", run / periodic_name(step))
    for src, tgt in (("zz", "xx"), ("xx", "yy")):
        assert main(["evaluate", "--run", str(run), "--data", str(three_way_corpus), "--src",
                     src, "--tgt", tgt, "--bootstrap", "0"]) == 0
    capsys.readouterr()
    for direction in ("zz-xx", "xx-yy"):
        history = json.loads((run / f"history.test_2016_flickr.{direction}.json").read_text())
        assert history["direction"] == direction and len(history["points"]) == 2
        assert history["points"][0]["bleu"] >= 85
        assert (run / f"history.test_2016_flickr.{direction}.png").is_file()
    assert not (run / "history.test_2016_flickr.json").exists()
    for direction, error in (("zz-xx,xx-yy", "takes one direction"), ("yy-xx", "contradicts")):
        assert main(["evaluate", "--run", str(run), "--data", str(three_way_corpus), "--src",
                     "zz", "--tgt", "xx", "--direction", direction]) != 0
        err = capsys.readouterr().err
        assert error in err and "Traceback" not in err
    assert main(["evaluate", "--run", str(run), "--data", str(three_way_corpus), "--src", "zz",
                 "--tgt", "xx", "--save-hyps", str(run / "metrics.jsonl")]) != 0  # a file
    err = capsys.readouterr().err
    assert "cannot write hypotheses to" in err and "Traceback" not in err
    refs = tmp_path / "refs.xx"
    refs.write_text("cat\n")
    assert main(["evaluate", "--run", str(run), "--src", str(refs), "--ref", str(refs)]) != 0
    assert "is a multilingual run: its history is one direction's" in capsys.readouterr().err


def test_backtranslate_with_a_multilingual_model(multilingual_run, tmp_path):
    mono = tmp_path / "mono.zz"
    mono.write_text("katze hund\nsonne baum fisch\n")
    code = main(["backtranslate", "--checkpoint", str(multilingual_run["dir"] / "best.pt"),
                 "-i", str(mono), "--tgt", "yy", "--out", str(tmp_path / "synth"),
                 "--precision", "fp32", "-q", "--data", str(tmp_path)])
    assert code == 0
    import gzip

    out = gzip.decompress((tmp_path / "synth" / "train.yy.gz").read_bytes()).decode()
    assert out.splitlines() == ["perro gato", "pez arbol sol"]


def test_backtranslate_src_must_be_the_inputs_language(multilingual_run, tmp_path, capsys):
    mono = tmp_path / "mono.zz"
    mono.write_text("katze hund\n")
    common = ["backtranslate", "--checkpoint", str(multilingual_run["dir"] / "best.pt"),
              "-i", str(mono), "--tgt", "yy", "--precision", "fp32", "-q",
              "--data", str(tmp_path)]
    assert main([*common, "--src", "zz", "--out", str(tmp_path / "named")]) == 0
    assert (tmp_path / "named" / "train.yy.gz").is_file()
    assert main([*common, "--src", "xx", "--out", str(tmp_path / "wrong")]) != 0
    assert "is in 'zz' but the checkpoint translates xx->yy" in capsys.readouterr().err
    assert not (tmp_path / "wrong").exists()


def test_resuming_with_other_languages_is_refused(multilingual_run, three_way_corpus,
                                                   capsys):
    code = main(["train", "--data", str(three_way_corpus), "--langs", "xx,yy",
                 "--out", str(multilingual_run["dir"]), "--resume", "--preset", "tiny"])
    assert code != 0
    assert "--resume goes on with the run's own languages" in capsys.readouterr().err
    code = main(["train", "--data", str(three_way_corpus), "--src", "xx", "--tgt", "yy",
                 "--out", str(multilingual_run["dir"]), "--resume", "--preset", "tiny"])
    assert code != 0 and "is a multilingual run" in capsys.readouterr().err


def test_an_interrupted_multilingual_run_resumes_with_plain_resume(three_way_corpus, tmp_path,
                                                                   monkeypatch, capsys):
    """A real Ctrl-C at update 12 of a multilingual run (two directions of three languages),
    then `translator train --resume --out DIR` as the docs say it (no --langs): the run goes
    on from update 13 with its own directions and ends as a multilingual run (summary with
    its directions, a checkpoint that names them), listed in the index of the models
    directory it was trained in."""
    import os
    import signal

    from translator.checkpoint_file import read_meta
    from translator.training import trainer as trainer_module
    from translator.training.index import read_index, write_index

    init, steps = trainer_module.Trainer.__init__, []

    def recording(self, *args, **kwargs):
        init(self, *args, **kwargs)

        def on_step(step: int, loss: float) -> None:
            steps.append(step)
            if step == 11 and len(steps) == 11:  # the first run only
                os.kill(os.getpid(), signal.SIGINT)  # finishes update 12, then stops
        self.on_step = on_step

    monkeypatch.setattr(trainer_module.Trainer, "__init__", recording)
    models = tmp_path / "models"  # a models directory (train-pairs' index), empty so far
    models.mkdir()
    write_index(models)
    out = models / "multi"
    common = ["--data", str(three_way_corpus), "--preset", "tiny", "--out", str(out),
              "--no-test", "-q"]
    assert main(["train", *common, "--langs", "xx,yy,zz", "--directions", "zz-xx,xx-yy",
                 "--max-steps", "20"]) == 130
    assert steps == list(range(1, 13)) and not (out / "summary.json").exists()
    steps.clear()
    assert main(["train", *common, "--resume"]) == 0, capsys.readouterr().err
    assert steps == list(range(13, 21))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 20 and sorted(summary["directions"]) == ["xx-yy", "zz-xx"]
    assert read_meta(out / "best.pt")["directions"] == ["zz-xx", "xx-yy"]
    # the finished run rewrote the index of the models directory it is in
    assert sorted(read_index(models)) == ["xx-yy", "zz-xx"]


def test_the_shared_vocabulary_is_learned_from_an_even_sample_of_every_language(
        three_way_corpus, monkeypatch):
    """The one SentencePiece model of a multilingual run is trained on the same number of
    sentences of each language (vocab.max_sentences split evenly), not on the first file's."""
    from helpers import WORDS, YY_WORDS, ZZ_WORDS, tiny_config

    from translator.data import multilingual
    from translator.data.corpus import find_split_file

    sampled: list[str] = []
    monkeypatch.setattr(multilingual, "train_model_bytes",
                        lambda sentences, *args: sampled.extend(sentences) or b"")
    cfg = multilingual.multilingual_config(tiny_config(), LANGS, DIRECTIONS).override(
        "vocab", max_sentences=300)
    multilingual._train_shared(cfg, {lang: find_split_file(three_way_corpus, "train", lang)
                                     for lang in LANGS})
    words = {"xx": set(WORDS), "yy": set(YY_WORDS.values()), "zz": set(ZZ_WORDS.values())}
    languages = [next(lang for lang, vocabulary in words.items()
                      if set(s.split()) <= vocabulary) for s in sampled]
    assert {lang: languages.count(lang) for lang in LANGS} == {lang: 100 for lang in LANGS}


def test_casing_and_documents_use_the_directions_own_languages(multilingual_run):
    """An ALL-CAPS input is truecased with its source language's table and comes back in
    capitals; a document is split into sentences and put back together per direction."""
    model = Translator.from_checkpoint(multilingual_run["dir"] / "best.pt")
    zz_xx = model.for_pair("zz", "xx")
    assert zz_xx.casing is model.casings["zz"]
    assert zz_xx.translate(["KATZE HUND SONNE"])[0] == "CAT DOG SUN"
    assert model.for_pair("xx", "yy").casing is model.casings["xx"]
    document = "cat dog sun\n\nred fish\n"
    assert model.for_pair("xx", "zz").translate_document(document) == \
        "katze hund sonne\n\nrot fisch\n"


def test_the_plots_draw_each_directions_validation_bleu(multilingual_run, tmp_path,
                                                         monkeypatch):
    """metrics.png: a validation line per direction (its logged BLEU) under the mean; a
    history chart of one direction: that direction's validation curve, not the mean."""
    from matplotlib.figure import Figure

    from translator.evaluation.plot import plot_history, plot_metrics, read_metrics

    drawn: list[dict[str, list[float]]] = []  # per figure: {label: y values} of every line
    save = Figure.savefig

    def recording(fig, *args, **kwargs):
        drawn.append({line.get_label(): [float(y) for y in line.get_ydata()]
                      for ax in fig.axes for line in ax.get_lines()})
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording)
    metrics = multilingual_run["dir"] / "metrics.jsonl"
    valid = [r for r in read_metrics(metrics) if r.get("type") == "valid"]
    plot_metrics(metrics, tmp_path / "metrics.png")
    for direction in DIRECTIONS:
        assert drawn[0][direction] == [r["directions"][direction] for r in valid], direction
    assert drawn[0]["mean"] == [r["bleu"] for r in valid]
    plot_history(metrics, [(200, 50.0), (400, 60.0)], "test", tmp_path / "h.png",
                 direction="zz-yy")
    assert drawn[1]["validation (greedy, during training)"] == [
        r["directions"]["zz-yy"] for r in valid]
    assert (tmp_path / "metrics.png").is_file() and (tmp_path / "h.png").is_file()


def test_a_language_no_direction_uses_is_left_out():
    """--langs en,de,fr,cs --directions de-en,en-de: the run's languages (its data, its
    vocabulary's sample and size) are en and de alone, in --langs order."""
    from translator.config import VocabConfig, preset
    from translator.data.multilingual import PIECES_PER_LANGUAGE, multilingual_config

    cfg = multilingual_config(preset("base"), ["en", "de", "fr", "cs"], ["de-en", "en-de"])
    assert cfg.data.langs == ["en", "de"]
    assert cfg.vocab.size == max(VocabConfig().size, 2 * PIECES_PER_LANGUAGE)
    assert "<2fr>" not in cfg.vocab.symbols and "<2en>" in cfg.vocab.symbols
    every = multilingual_config(preset("tiny"), ["en", "de", "fr", "cs"],
                                resolve_directions(["en", "de", "fr", "cs"]))
    assert every.data.langs == ["en", "de", "fr", "cs"]


def test_a_config_files_languages_with_the_options_directions():
    """data.langs and data.directions from a --config file; --directions or --english-centric
    on the command line choose others among those languages (not an error for naming both)."""
    from argparse import Namespace

    from translator.cli.main import _languages
    from translator.config import preset
    from translator.data.multilingual import multilingual_config

    cfg = multilingual_config(preset("tiny"), ["en", "de", "fr"], ["de-en", "fr-en"])
    args = Namespace(langs=None, src=None, tgt=None, directions=None, english_centric=False)
    assert _languages(args, cfg)[0].data.directions == ["de-en", "fr-en"]
    args.english_centric = True
    assert _languages(args, cfg)[0].data.directions == ["de-en", "en-de", "fr-en", "en-fr"]
    args.english_centric, args.directions = False, "en-fr"
    assert _languages(args, cfg)[0].data.directions == ["en-fr"]
    with pytest.raises(ConfigError, match="list the directions in the file"):
        preset("tiny").override("data", langs=["en", "de"])
