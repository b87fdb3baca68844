"""Tests for translator.checkpoint and loading: round trips, and every kind of bad file."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest
import torch
from helpers import SRC, TGT

from translator.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from translator.cli.main import main
from translator.config import Config
from translator.data.batching import source_tensors
from translator.data.corpus import read_split
from translator.data.vocab import Tokenizer
from translator.inference.search import SearchConfig, search
from translator.inference.translator import Translator
from translator.model.seq2seq import Seq2Seq


@pytest.fixture(scope="module")
def best_pt(trained_run):
    return trained_run["dir"] / "best.pt"


@pytest.fixture(scope="module")
def test_sources(reverse_corpus):
    return read_split(reverse_corpus, "test_2016_flickr", SRC, TGT).src[:30]


def test_loading_twice_gives_identical_translations(best_pt, test_sources):
    first = Translator.from_checkpoint(best_pt)
    second = Translator.from_checkpoint(best_pt)
    for beam in (1, 4):
        assert first.translate(test_sources, beam_size=beam) == \
            second.translate(test_sources, beam_size=beam)
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first.src_lang == SRC and first.tgt_lang == TGT


def test_model_rebuilt_from_state_dict_matches_translator(best_pt, test_sources):
    data = load_checkpoint(best_pt)
    assert data["format"] == FORMAT and data["format_version"] == FORMAT_VERSION
    config = Config.from_dict(data["config"])
    src_tok, tgt_tok = Tokenizer(data["spm"]["src"]), Tokenizer(data["spm"]["tgt"])
    model = Seq2Seq(config.model, len(src_tok), len(tgt_tok))
    model.load_state_dict(data["model"])
    model.eval()
    translator = Translator.from_checkpoint(best_pt)
    src, src_lens = source_tensors(src_tok.encode(test_sources))
    cfg = SearchConfig(beam_size=3, n_best=2)
    mine, theirs = search(model, src, src_lens, cfg), search(translator.model, src, src_lens, cfg)
    assert [[h.tokens for h in hyps] for hyps in mine] == \
        [[h.tokens for h in hyps] for hyps in theirs]
    # The Translator's model gathers precomputed input gates: equal up to float rounding.
    assert [h.score for hyps in mine for h in hyps] == \
        pytest.approx([h.score for hyps in theirs for h in hyps], abs=1e-4)
    texts = tgt_tok.decode([hyps[0].tokens for hyps in mine])
    assert texts == translator.translate(test_sources, beam_size=3)


def test_save_and_load_round_trip(tmp_path):
    weights = {"w": torch.randn(3, 4), "b": torch.arange(5)}
    path = save_checkpoint(tmp_path / "sub" / "x.pt", {
        "config": Config().to_dict(), "spm": {"src": b"a", "tgt": b"b"}, "model": weights})
    data = load_checkpoint(path)
    assert data["spm"] == {"src": b"a", "tgt": b"b"}
    assert all(torch.equal(data["model"][k], weights[k]) for k in weights)
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]  # no temporary file left


# --------------------------------------------------------------------------- bad files
def assert_rejected(path, *fragments: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message
    # the front door raises the same error
    with pytest.raises(CheckpointError):
        Translator.from_checkpoint(path)
    return message


def test_missing_path(tmp_path):
    assert_rejected(tmp_path / "missing.pt", "checkpoint not found")


def test_directory_instead_of_file(tmp_path):
    assert_rejected(tmp_path, "not a file")


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.01])
def test_truncated_file(best_pt, tmp_path, fraction):
    data = best_pt.read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: int(len(data) * fraction)])
    message = assert_rejected(path, "not a readable checkpoint", "truncated")
    assert "weights_only" not in message  # torch's advice to load unsafely never reaches users


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    assert_rejected(path, "not a readable checkpoint", "empty")


def test_corrupted_bytes_always_give_checkpoint_error(tmp_path):
    """Byte flips in a torch file and pickle-like garbage never escape as other exceptions."""
    import random
    import warnings

    source = tmp_path / "small.pt"
    save_checkpoint(source, {"config": {}, "spm": {}, "model": {"w": torch.zeros(4)}})
    original = source.read_bytes()
    rng = random.Random(0)
    samples = [b"(", b"]", b"\x80\x02", b"\x80\x02}q\x00(", b"PK\x03\x04", b"\x80\x02K\x01."]
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        samples.append(bytes(data))
    for _ in range(150):
        samples.append("".join(rng.choice("()[]{}.aKq0\n") for _ in range(30)).encode())
    path = tmp_path / "fuzz.pt"
    for sample in samples:
        path.write_bytes(sample)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                load_checkpoint(path)
            except CheckpointError:
                pass


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(4096))
    assert_rejected(path, "not a readable checkpoint")


def test_text_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("this is not a checkpoint\n")
    assert_rejected(path, "not a readable checkpoint")


@pytest.mark.parametrize("obj", [{"a": 1}, [1, 2, 3], torch.zeros(3), {"format": "other"}])
def test_foreign_torch_file(tmp_path, obj):
    path = tmp_path / "foreign.pt"
    torch.save(obj, path)
    assert_rejected(path, "not a translator checkpoint")


class _CreatesFile:
    """Unpickling this object would create (truncate) the file at `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle", "inside-checkpoint"])
def test_pickle_with_code_is_rejected_without_running_it(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    evil = _CreatesFile(marker)
    if writer == "torch.save":
        torch.save(evil, path)
    elif writer == "pickle":
        path.write_bytes(pickle.dumps(evil, protocol=2))
    else:  # a file that looks like a checkpoint but smuggles an object in
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "config": {},
                    "spm": {}, "model": {}, "extra": evil}, path)
    assert not marker.exists()
    assert_rejected(path, "not a readable checkpoint")
    assert not marker.exists(), "loading a checkpoint executed code from the file"


def test_newer_format_version(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION + 1}, path)
    assert_rejected(path, "format version", "upgrade")


def test_incomplete_checkpoint(tmp_path):
    path = tmp_path / "partial.pt"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "config": {}, "spm": {}},
               path)
    assert_rejected(path, "incomplete", "'model'")


@pytest.mark.parametrize(
    "damage", ["config", "shape", "spm", "spm-type", "config-key", "model-type"])
def test_inconsistent_checkpoint_fails_to_load(best_pt, tmp_path, damage):
    data = load_checkpoint(best_pt)
    if damage == "config":
        data["config"]["model"]["emb_dim"] = 32  # weights no longer fit the model
        data["config"]["model"]["attn_dim"] = 32
    elif damage == "shape":
        data["model"]["out_bias"] = torch.zeros(3)
    elif damage == "spm":
        data["spm"]["src"] = b"not a sentencepiece model"
    elif damage == "spm-type":
        data["spm"]["tgt"] = 12
    elif damage == "model-type":
        data["model"] = [1, 2, 3]
    else:
        data["config"]["model"]["hidden"] = 3
    path = save_checkpoint(tmp_path / "damaged.pt", {
        k: v for k, v in data.items() if k not in ("format", "format_version")})
    with pytest.raises(CheckpointError, match="cannot be loaded") as info:
        Translator.from_checkpoint(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- command line
def run_cli(capsys, argv) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_translate_missing_checkpoint(capsys, tmp_path):
    code, out, err = run_cli(capsys, ["translate", "--checkpoint", str(tmp_path / "missing.pt")])
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("translator: error: checkpoint not found")
    assert "Traceback" not in err


def test_cli_translate_corrupt_checkpoint(capsys, tmp_path, best_pt):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(best_pt.read_bytes()[:1000])
    code, out, err = run_cli(capsys, ["translate", "--checkpoint", str(path)])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("translator: error: ")
    assert "Traceback" not in err


def test_cli_translate_with_trained_model(capsys, tmp_path, best_pt, test_sources):
    ckpt = tmp_path / "model.pt"
    shutil.copy(best_pt, ckpt)
    src_file, out_file = tmp_path / "in.txt", tmp_path / "out.txt"
    src_file.write_text("".join(s + "\n" for s in test_sources[:5]))
    code, _, _ = run_cli(capsys, ["translate", "--checkpoint", str(ckpt), "-i", str(src_file),
                                  "-o", str(out_file), "--beam", "3", "--threads", "1"])
    torch.set_num_threads(1)
    assert code == 0
    expected = Translator.from_checkpoint(ckpt).translate(test_sources[:5], beam_size=3)
    assert out_file.read_text().splitlines() == expected
