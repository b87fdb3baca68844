"""The corpus a checkpoint records (translator/data/corpus_record.py): every checkpoint a run
writes names its data directory and the SHA-256 of the train files it read;
`analysis.training_target` reads the target side back while those files are unchanged, and
`translator evaluate --analysis` counts its word frequencies there, else in the references,
saying which and why."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from helpers import SRC, TGT, tiny_config

from translator.checkpoint import average_checkpoints, load_checkpoint, save_checkpoint
from translator.data.corpus import read_lines
from translator.data.corpus_record import HASHES, file_sha256
from translator.data.prepare import prepare
from translator.evaluation.analysis import NO_RECORD, training_target


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_record(corpus: Path) -> dict:
    return {"data": str(corpus.resolve()), "src": SRC, "tgt": TGT,
            "files": {f"train.{SRC}": sha256(corpus / f"train.{SRC}"),
                      f"train.{TGT}": sha256(corpus / f"train.{TGT}")}}


def copy_of(corpus: Path, directory: Path) -> Path:
    shutil.copytree(corpus, directory)
    return directory


@pytest.fixture(scope="module")
def short_run(reverse_corpus, tmp_path_factory) -> Path:
    """Four updates with a periodic checkpoint every two and the two averaged at the end: every
    kind of checkpoint a run writes (the corpus is already prepared in the session's cache)."""
    from translator.training.trainer import Trainer

    out = tmp_path_factory.mktemp("short_run")
    cfg = tiny_config(max_steps=4, eval_every=2, save_every=2, average_last=2,
                      eval_max_sentences=10)
    Trainer(cfg, reverse_corpus, SRC, TGT, out, progress=False).run()
    return out


def test_every_checkpoint_of_a_run_records_its_corpus(trained_run, short_run, reverse_corpus):
    want = expected_record(reverse_corpus)
    for path in [trained_run["dir"] / "best.pt", trained_run["dir"] / "last.pt",
                 *(short_run / name for name in ("step0000002.pt", "step0000004.pt", "best.pt",
                                                 "last.pt", "averaged.pt"))]:
        record = load_checkpoint(path)["corpus"]
        assert record == want, path
        assert list(record["files"]) == [f"train.{SRC}", f"train.{TGT}"]  # source first
    assert load_checkpoint(short_run / "averaged.pt")["averaged_from"]  # it is the average
    # `translator average` keeps the record too
    payload = average_checkpoints([short_run / "step0000002.pt", short_run / "step0000004.pt"])
    assert payload["corpus"] == want


def test_the_hashes_are_kept_in_the_cache_entry(corpus_dir, tmp_path):
    def prepared():
        return prepare(tiny_config(), corpus_dir, SRC, TGT, tmp_path / "cache", 1,
                       progress=False)

    first = prepared()
    assert first.record == expected_record(corpus_dir)
    kept = json.loads((first.directory / HASHES).read_text())
    assert kept == first.record["files"]
    # a second run reads them from the entry (which is keyed by path, size and mtime) ...
    (first.directory / HASHES).write_text(json.dumps({**kept, f"train.{TGT}": "cached"}))
    second = prepared()
    assert second.from_cache and second.record["files"][f"train.{TGT}"] == "cached"
    # ... and an entry prepared before the hashes were kept gets them
    (first.directory / HASHES).unlink()
    assert prepared().record == expected_record(corpus_dir)
    assert json.loads((first.directory / HASHES).read_text()) == kept
    assert not list(first.directory.glob(".*"))  # no temporary file left behind


def test_training_target_reads_the_recorded_target_lines(trained_run, reverse_corpus):
    record = load_checkpoint(trained_run["dir"] / "best.pt")["corpus"]
    lines, source = training_target(record)
    assert source == str(reverse_corpus.resolve() / f"train.{TGT}")
    assert lines == read_lines(reverse_corpus / f"train.{TGT}") and len(lines) == 3000


def test_training_target_refuses_a_changed_missing_or_absent_corpus(reverse_corpus, tmp_path):
    corpus = copy_of(reverse_corpus, tmp_path / "corpus")
    record = expected_record(corpus)
    assert training_target(record)[0] is not None
    assert training_target(None) == (None, NO_RECORD)
    assert NO_RECORD == "checkpoint records no corpus (trained before 0.3.0)"

    with open(corpus / f"train.{TGT}", "a") as f:
        f.write("cat red\n")
    assert training_target(record) == (None, f"train.{TGT} changed since training")
    (corpus / f"train.{TGT}").write_bytes((reverse_corpus / f"train.{TGT}").read_bytes())
    assert training_target(record)[0] is not None  # the same bytes again
    (corpus / f"train.{SRC}").write_text("changed\n")  # any recorded file
    assert training_target(record) == (None, f"train.{SRC} changed since training")
    (corpus / f"train.{SRC}").unlink()
    assert training_target(record) == (None, f"train.{SRC} not found in {corpus.resolve()}")
    shutil.rmtree(corpus)
    assert training_target(record) == (None, f"data directory not found: {corpus.resolve()}")
    lines, reason = training_target({"data": str(tmp_path)})
    assert lines is None and "malformed" in reason
    outside = {**record, "files": {f"../corpus/train.{TGT}": "0" * 64}}  # names, not paths
    assert "malformed" in training_target(outside)[1]


def test_file_sha256_is_the_files_bytes(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 10_000)  # more than one chunk
    assert file_sha256(path) == sha256(path)


# --------------------------------------------------------------------------- the command line
def evaluate_analysis(capsys, checkpoint: Path, test: dict[str, Path]) -> tuple[dict, str]:
    from translator.cli.main import main

    rc = main(["evaluate", "--checkpoint", str(checkpoint), "--src", str(test["src"]),
               "--ref", str(test["ref"]), "--beam", "1", "--bootstrap", "0", "--json",
               "--analysis"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)["analysis"], out.err


@pytest.fixture
def test_set(reverse_corpus, tmp_path) -> dict[str, Path]:
    """The first 12 segments of the test split."""
    paths = {}
    for name, lang in (("src", SRC), ("ref", TGT)):
        lines = (reverse_corpus / f"test_2016_flickr.{lang}").read_text().splitlines()[:12]
        paths[name] = tmp_path / f"test.{lang}"
        paths[name].write_text("\n".join(lines) + "\n")
    return paths


def with_record(source: Path, out: Path, record: dict | None) -> Path:
    """A copy of the checkpoint `source` with another `corpus` entry (None: none)."""
    payload = {k: v for k, v in load_checkpoint(source).items()
               if k not in ("format", "format_version", "corpus")}
    if record is not None:
        payload["corpus"] = record
    return save_checkpoint(out, payload)


def test_evaluate_analysis_counts_frequencies_in_the_recorded_corpus(
        capsys, trained_run, reverse_corpus, test_set):
    analysis, err = evaluate_analysis(capsys, trained_run["dir"] / "best.pt", test_set)
    target = str(reverse_corpus.resolve() / f"train.{TGT}")
    assert analysis["frequencies_from"] == target
    assert analysis["frequencies"]["from"] == "training target"
    assert analysis["frequencies"]["file"] == target
    assert f"frequencies: training target ({target})" in err
    # every word of the reverse task occurs in its training targets: none in bucket "0"
    assert analysis["word_f_by_frequency"]["reference_words"][0] == 0


def test_evaluate_analysis_falls_back_to_the_references_and_says_why(
        capsys, trained_run, reverse_corpus, test_set, tmp_path):
    best = trained_run["dir"] / "best.pt"
    old = with_record(best, tmp_path / "old.pt", None)
    analysis, err = evaluate_analysis(capsys, old, test_set)
    assert analysis["frequencies_from"] == "the references"
    assert analysis["frequencies"] == {"from": "the references", "file": None,
                                       "reason": NO_RECORD}
    assert f"frequencies: the references ({NO_RECORD})" in err

    corpus = copy_of(reverse_corpus, tmp_path / "corpus")
    stale = with_record(best, tmp_path / "stale.pt", expected_record(corpus))
    (corpus / f"train.{TGT}").write_text("cat red\n")
    analysis, err = evaluate_analysis(capsys, stale, test_set)
    assert analysis["frequencies"]["reason"] == f"train.{TGT} changed since training"
    assert f"frequencies: the references (train.{TGT} changed since training)" in err
