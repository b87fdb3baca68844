"""Compact cached corpora (translator/data/prepare.py, translator/data/compact.py): the arrays hold
what the tokenizers and filters give, one or several encoding processes write the same bytes, the
cache is reused exactly when nothing that decides it changed, and bad corpora fail cleanly."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SRC, TGT, tiny_config, write_reverse_corpus

import translator.data.prepare
from translator.data.batching import token_budget_batches, training_batch
from translator.data.casing import CasingTable
from translator.data.corpus import CorpusError, filter_pairs, read_split
from translator.data.prepare import prepare
from translator.data.vocab import sample_sentences


def prepared(corpus: Path, cache: Path, cfg=None, processes: int = 1, **kw):
    return prepare(cfg or tiny_config(), corpus, SRC, TGT, cache, processes, progress=False, **kw)


def noisy_corpus(directory: Path, n: int = 700) -> Path:
    """The reverse task with pairs every filter drops: empty sides, long ones, odd ratios."""
    write_reverse_corpus(directory)
    rng = random.Random(5)
    src = (directory / f"train.{SRC}").read_text().splitlines()[:n]
    tgt = (directory / f"train.{TGT}").read_text().splitlines()[:n]
    for i in rng.sample(range(n), 60):
        kind = i % 3
        if kind == 0:
            src[i] = ""
        elif kind == 1:
            src[i] = " ".join(["red"] * 120)
            tgt[i] = " ".join(["cat"] * 120)
        else:
            tgt[i] = "a"
    (directory / f"train.{SRC}").write_text("\n".join(src) + "\n")
    (directory / f"train.{TGT}").write_text("\n".join(tgt) + "\n")
    return directory


def test_arrays_hold_the_encoded_filtered_pairs(tmp_path):
    corpus = noisy_corpus(tmp_path / "corpus")
    cfg = tiny_config().override("data", max_len=60)
    got = prepared(corpus, tmp_path / "cache", cfg)
    train = read_split(corpus, "train", SRC, TGT)
    src_ids, tgt_ids = got.src_tok.encode(train.src), got.tgt_tok.encode(train.tgt)
    longest = {s: max(len(a), len(b)) for s, a, b in zip(train.src, src_ids, tgt_ids)}
    kept, report = filter_pairs(train, 60, cfg.data.max_ratio, cfg.data.min_len_for_ratio,
                                length=lambda s: longest.get(s, 0))
    assert got.report.dropped == report.dropped and got.report.kept == report.kept
    assert all(report.dropped.values())  # every filter had something to drop
    assert len(got.corpus) == len(kept)
    expected = list(zip(got.src_tok.encode(kept.src), got.tgt_tok.encode(kept.tgt)))
    assert [got.corpus.pair(i) for i in range(len(got.corpus))] == expected
    assert got.corpus.src_tokens.dtype == np.uint16
    # the casing table is the one learnt from the whole source side
    assert got.casing.to_dict() == CasingTable.learn(train.src).to_dict()

    # a batch from the arrays is the batch the lists give
    idx = np.array([5, 0, 17, 3])
    batch = got.corpus.batch(idx)
    reference = training_batch([expected[i][0] for i in idx], [expected[i][1] for i in idx])
    assert batch.keys() == reference.keys()
    assert all(torch.equal(batch[k], reference[k]) for k in batch)


def test_second_run_maps_the_cache_and_two_processes_write_the_same_bytes(tmp_path,
                                                                          monkeypatch):
    corpus = write_reverse_corpus(tmp_path / "corpus")
    one = prepared(corpus, tmp_path / "one", processes=1)
    assert not one.from_cache

    # the second run does none of the work: no SentencePiece training, no encoding
    def no_work(*args, **kwargs):
        raise AssertionError("a cached corpus was prepared again")

    with monkeypatch.context() as patch:
        patch.setattr(translator.data.prepare, "_train_tokenizers", no_work)
        patch.setattr(translator.data.prepare, "encode_corpus", no_work)
        again = prepared(corpus, tmp_path / "one", processes=1)
    assert again.from_cache and again.directory == one.directory
    assert isinstance(again.corpus.src_tokens, np.memmap)
    assert np.array_equal(again.corpus.src_tokens, one.corpus.src_tokens)

    monkeypatch.setattr(translator.data.prepare, "CHUNK_PAIRS", 700)  # 5 chunks: a pool
    two = prepared(corpus, tmp_path / "two", processes=2)
    assert not two.from_cache
    assert json.loads((two.directory / "arrays.json").read_text())["processes"] == 2
    for name in ("src_tokens", "src_offsets", "tgt_tokens", "tgt_offsets"):
        assert np.array_equal(getattr(one.corpus, name), getattr(two.corpus, name)), name
    assert one.src_tok.model_bytes == two.src_tok.model_bytes


def test_gzip_and_plain_files_give_the_same_arrays(tmp_path):
    plain = write_reverse_corpus(tmp_path / "plain")
    packed = tmp_path / "packed"
    packed.mkdir()
    for path in plain.iterdir():
        (packed / (path.name + ".gz")).write_bytes(gzip.compress(path.read_bytes()))
    a, b = prepared(plain, tmp_path / "cache"), prepared(packed, tmp_path / "cache")
    assert a.directory != b.directory  # other files, another entry
    assert np.array_equal(a.corpus.src_tokens, b.corpus.src_tokens)
    assert np.array_equal(a.corpus.tgt_offsets, b.corpus.tgt_offsets)


def test_the_cache_key_follows_files_filters_and_vocabulary(tmp_path):
    corpus = write_reverse_corpus(tmp_path / "corpus")
    cache = tmp_path / "cache"
    base = prepared(corpus, cache)
    other_filter = prepared(corpus, cache, tiny_config().override("data", max_len=5))
    assert other_filter.directory != base.directory
    assert other_filter.src_tok.model_bytes == base.src_tok.model_bytes  # same SentencePiece
    assert len(other_filter.corpus) < len(base.corpus)
    other_vocab = prepared(corpus, cache, tiny_config().override("vocab", size=24))
    assert other_vocab.src_tok.model_bytes != base.src_tok.model_bytes
    assert len(list((cache / "spm").iterdir())) == 2

    with open(corpus / f"train.{SRC}", "a") as f, open(corpus / f"train.{TGT}", "a") as g:
        f.write("red cat\n")
        g.write("cat red\n")
    grown = prepared(corpus, cache)
    assert not grown.from_cache and len(grown.corpus) == len(base.corpus) + 1
    assert prepared(corpus, cache).from_cache
    assert not list(cache.glob("*/.*.tmp"))  # no scratch directory left behind


def test_a_resumed_runs_tokenizers_decide_the_entry(tmp_path):
    corpus = write_reverse_corpus(tmp_path / "corpus")
    cache = tmp_path / "cache"
    other = prepared(corpus, cache, tiny_config().override("vocab", size=24))
    base = prepared(corpus, cache, tokenizers=(other.src_tok, other.tgt_tok))
    assert base.directory == other.directory and base.from_cache


def test_mismatched_line_counts_are_refused_in_both_passes(tmp_path):
    corpus = write_reverse_corpus(tmp_path / "corpus")
    lines = (corpus / f"train.{TGT}").read_text().splitlines()
    (corpus / f"train.{TGT}").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(CorpusError, match=r"line counts differ: .* has 3000 lines, .* has 2999"):
        prepared(corpus, tmp_path / "cache")  # while sampling for SentencePiece
    fine = write_reverse_corpus(tmp_path / "fine")
    tokenizers = prepared(fine, tmp_path / "cache")
    with pytest.raises(CorpusError, match=r"has 3000 lines, .* has 2999"):  # while encoding
        prepared(corpus, tmp_path / "cache", tokenizers=(tokenizers.src_tok, tokenizers.tgt_tok))
    assert not list((tmp_path / "cache").glob("corpora/.*"))


def test_a_corpus_of_one_chunk_is_encoded_without_starting_processes(tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("processes were started for a single chunk")

    monkeypatch.setattr(translator.data.prepare, "_encode_in_pool", no_pool)
    corpus = write_reverse_corpus(tmp_path / "corpus")  # 3,000 pairs, one chunk of 20,000
    assert len(prepared(corpus, tmp_path / "cache", processes=2).corpus) == 3000


@pytest.mark.parametrize("processes", [1, 2])
def test_invalid_utf8_names_the_line_and_leaves_no_entry(tmp_path, processes, monkeypatch):
    monkeypatch.setattr(translator.data.prepare, "CHUNK_PAIRS", 700)  # several chunks
    corpus = write_reverse_corpus(tmp_path / "corpus")
    tokenizers = prepared(corpus, tmp_path / "cache")
    path = corpus / f"train.{SRC}"
    data = path.read_bytes().split(b"\n")
    data[2500] = b"red \xff cat"
    path.write_bytes(b"\n".join(data))
    with pytest.raises(CorpusError, match=r"not valid UTF-8 \(line 2501, byte 4"):
        prepared(corpus, tmp_path / "cache", processes=processes,
                 tokenizers=(tokenizers.src_tok, tokenizers.tgt_tok))
    entries = list((tmp_path / "cache" / "corpora").iterdir())
    assert len(entries) == 1  # the good corpus' entry only, no scratch directory


def test_the_reservoir_keeps_a_small_stream_whole_and_samples_a_large_one():
    lines = [f"line {i}" for i in range(50)] + [""] * 5
    assert sample_sentences(lines, 100, random.Random(1)) == lines[:50]
    calls = []

    def text(item):
        calls.append(item)
        return f"line {item}"

    big = sample_sentences(range(100_000), 1000, random.Random(1), text)
    assert len(big) == 1000 == len(set(big))
    assert len(calls) < 10_000  # only the items drawn are turned into text
    mean = np.mean([int(s.split()[1]) for s in big])
    assert 45_000 < mean < 55_000  # drawn from the whole stream, not its start
    assert big == sample_sentences(range(100_000), 1000, random.Random(1), text)


def test_token_budget_batches_are_the_greedy_cut_of_the_sorted_lengths():
    """The array version against the plain loop it replaced (without shuffling)."""
    def reference(lengths, budget, most=0):
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches, current, longest = [], [], 0
        for i in order:
            grown = max(longest, lengths[i])
            if current and (grown * (len(current) + 1) > budget or most and len(current) >= most):
                batches.append(current)
                current, grown = [], lengths[i]
            current.append(i)
            longest = grown
        return batches + ([current] if current else [])

    rng = random.Random(0)
    for _ in range(200):
        lengths = [rng.randint(1, 60) for _ in range(rng.randint(0, 300))]
        budget, most = rng.choice([1, 30, 100, 1000]), rng.choice([0, 3, 50])
        got = [b.tolist() for b in token_budget_batches(lengths, budget, max_sentences=most)]
        assert got == reference(lengths, budget, most)
    shuffled = token_budget_batches(lengths, 100, shuffle=True, seed=3)
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(len(lengths)))
    assert [b.tolist() for b in shuffled] == [
        b.tolist() for b in token_budget_batches(lengths, 100, shuffle=True, seed=3)]


def test_a_damaged_entry_is_refused_with_what_to_do(tmp_path):
    corpus = write_reverse_corpus(tmp_path / "corpus")
    entry = prepared(corpus, tmp_path / "cache").directory
    tokens = entry / "src.tokens"
    tokens.write_bytes(tokens.read_bytes()[:-8])  # a truncated copy
    with pytest.raises(CorpusError, match="damaged .*delete the directory"):
        prepared(corpus, tmp_path / "cache")


def test_builders_sharing_a_cache_never_share_a_scratch_directory(tmp_path):
    """Machines sharing a cache can run their builders under the same pid (containers):
    each call gets its own scratch directory, and one never removes another's."""
    from translator.data.prepare import scratch_dir

    entry = tmp_path / "cache" / "corpora" / "abc"
    first = scratch_dir(entry)
    (first / "src.tokens").write_bytes(b"partial")
    second = scratch_dir(entry)
    assert first != second and first.parent == second.parent == entry.parent
    assert (first / "src.tokens").read_bytes() == b"partial"


def test_an_unwritable_cache_is_a_clear_error(tmp_path):
    corpus = write_reverse_corpus(tmp_path / "corpus")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(CorpusError, match="cannot write the corpus cache .*--cache-dir"):
        prepared(corpus, blocked / "cache")


def test_translator_prepare_then_train_reads_the_entry(capsys, caplog, tmp_path):
    import logging

    from translator.cli.main import main

    corpus = write_reverse_corpus(tmp_path / "corpus")
    args = ["prepare", "--data", str(corpus), "--src", SRC, "--tgt", TGT, "--preset", "tiny",
            "--cache-dir", str(tmp_path / "cache"), "--prepare-processes", "2", "-q"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["pairs"] == first["kept"] == 3000 and not first["from_cache"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["from_cache"]
    caplog.set_level(logging.INFO, logger="translator.training.trainer")
    assert main(["train", "--data", str(corpus), "--src", SRC, "--tgt", TGT, "--preset", "tiny",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "run"),
                 "--max-steps", "2", "--threads", "1", "--no-test", "-q"]) == 0
    assert f"memory-mapped from {first['cache']}" in caplog.text


def test_encoding_processes_start_from_any_main_module(tmp_path):
    """`python -` asks for two processes: spawned ones could not import its main module (they
    hung), so it encodes in its own process and says so."""
    import subprocess
    import sys

    corpus = write_reverse_corpus(tmp_path / "corpus")
    script = (f"import translator.data.prepare as P\nP.CHUNK_PAIRS = 700\n"
              f"from translator.data.prepare import prepare\nfrom translator.config import preset\n"
              f"p = prepare(preset('tiny'), {str(corpus)!r}, 'xx', 'yy', {str(tmp_path)!r}, 2,"
              f" progress=False)\nprint(len(p.corpus))\n")
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3000"
    assert "encoding in this process" in done.stderr
