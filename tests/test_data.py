"""Tests for translator.data.corpus: reading, normalisation and filtering of parallel corpora."""

from __future__ import annotations

import gzip

import pytest

from translator.data.corpus import (
    CorpusError,
    ParallelCorpus,
    filter_pairs,
    find_split_file,
    normalize,
    read_lines,
    read_parallel,
    read_split,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("e\u0301", "\u00e9"),  # NFC composes e + combining acute
        ("Cafe\u0301 au lait", "Caf\u00e9 au lait"),
        ("  a \t b\n\n c  ", "a b c"),  # whitespace runs collapse, ends are stripped
        ("a\u00a0b\u2028c", "a b c"),  # non-breaking space and line separator are whitespace
        ("a\x0bb\x0cc", "a b c"),  # vertical tab and form feed separate words
        ("a\x00b\x07c\x1bd\x7fe", "abcde"),  # control characters are dropped
        ("zero\u200bwidth", "zerowidth"),
        ("\ufeffHallo Welt", "Hallo Welt"),  # byte-order mark
        ("line\r", "line"),  # a stray carriage return (CRLF file) is whitespace
        ("", ""),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_read_lines_plain_with_and_without_final_newline(tmp_path):
    with_nl = tmp_path / "a.en"
    with_nl.write_bytes(b"one\ntwo\n")
    without_nl = tmp_path / "b.en"
    without_nl.write_bytes(b"one\ntwo")
    assert read_lines(with_nl) == ["one", "two"]
    assert read_lines(without_nl) == ["one", "two"]


def test_read_lines_keeps_empty_lines_and_handles_empty_file(tmp_path):
    path = tmp_path / "a.en"
    path.write_bytes(b"one\n\nthree\n")
    assert read_lines(path) == ["one", "", "three"]
    empty = tmp_path / "empty.en"
    empty.write_bytes(b"")
    assert read_lines(empty) == []


def test_read_lines_crlf_and_bom(tmp_path):
    path = tmp_path / "a.de"
    path.write_bytes("\ufeffEin Hund\r\nZwei  Katzen\r\n".encode())
    assert read_lines(path) == ["Ein Hund", "Zwei Katzen"]


def test_read_lines_gzip_normalises(tmp_path):
    path = tmp_path / "a.de.gz"
    path.write_bytes(gzip.compress("Gru\u0308n  ist\tgut\nZweite Zeile".encode()))
    assert read_lines(path) == ["Gr\u00fcn ist gut", "Zweite Zeile"]


def test_read_lines_invalid_utf8(tmp_path):
    path = tmp_path / "bad.en"
    path.write_bytes(b"ok\n\xff\xfe broken\n")
    with pytest.raises(CorpusError, match=r"not valid UTF-8 \(byte offset 3\)"):
        read_lines(path)
    gz = tmp_path / "bad.en.gz"
    gz.write_bytes(gzip.compress(b"\xc3("))
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        read_lines(gz)


def test_read_lines_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="file not found"):
        read_lines(tmp_path / "nope.en")
    with pytest.raises(CorpusError, match="file not found"):
        read_lines(tmp_path / "nope.en.gz")


def test_read_lines_broken_gzip(tmp_path):
    not_gzip = tmp_path / "a.en.gz"
    not_gzip.write_bytes(b"plain text, not gzip\n")
    truncated = tmp_path / "b.en.gz"
    truncated.write_bytes(gzip.compress(b"some text\n" * 50)[:-10])
    corrupt = bytearray(gzip.compress(b"hello world " * 100, mtime=0))
    corrupt[20:30] = b"\xff" * 10  # damages the deflate stream itself
    damaged = tmp_path / "c.en.gz"
    damaged.write_bytes(bytes(corrupt))
    for path in (not_gzip, truncated, damaged):
        with pytest.raises(CorpusError, match="cannot read"):
            read_lines(path)


def test_read_parallel(tmp_path):
    (tmp_path / "x.de").write_text("eins\nzwei\n", encoding="utf-8")
    (tmp_path / "x.en").write_text("one\ntwo\n", encoding="utf-8")
    corpus = read_parallel(tmp_path / "x.de", tmp_path / "x.en")
    assert corpus.src == ["eins", "zwei"] and corpus.tgt == ["one", "two"]
    assert len(corpus) == 2
    assert corpus.name == "x.de|x.en"


def test_read_parallel_mismatched_counts(tmp_path):
    (tmp_path / "x.de").write_text("eins\nzwei\ndrei\n", encoding="utf-8")
    (tmp_path / "x.en").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        read_parallel(tmp_path / "x.de", tmp_path / "x.en")
    message = str(info.value)
    assert "3 lines" in message and "has 2" in message
    assert "x.de" in message and "x.en" in message


def test_find_split_file_prefers_plain(tmp_path):
    (tmp_path / "val.en").write_text("a\n", encoding="utf-8")
    (tmp_path / "val.en.gz").write_bytes(gzip.compress(b"b\n"))
    assert find_split_file(tmp_path, "val", "en") == tmp_path / "val.en"


def test_find_split_file_finds_gz(tmp_path):
    (tmp_path / "train.de.gz").write_bytes(gzip.compress(b"a\n"))
    assert find_split_file(tmp_path, "train", "de") == tmp_path / "train.de.gz"


def test_find_split_file_missing_lists_available(tmp_path):
    (tmp_path / "train.de.gz").write_bytes(gzip.compress(b"a\n"))
    (tmp_path / "train.en.gz").write_bytes(gzip.compress(b"a\n"))
    with pytest.raises(CorpusError) as info:
        find_split_file(tmp_path, "val", "de")
    message = str(info.value)
    assert "val.de or val.de.gz" in message
    assert "train.de.gz, train.en.gz" in message


def test_find_split_file_empty_and_missing_dir(tmp_path):
    with pytest.raises(CorpusError, match="found: nothing"):
        find_split_file(tmp_path, "val", "de")
    with pytest.raises(CorpusError, match="data directory not found"):
        find_split_file(tmp_path / "nope", "val", "de")


def test_read_split(tmp_path):
    (tmp_path / "val.de.gz").write_bytes(gzip.compress(b"eins\nzwei\n"))
    (tmp_path / "val.en").write_text("one\ntwo", encoding="utf-8")
    corpus = read_split(tmp_path, "val", "de", "en")
    assert corpus.name == "val"
    assert list(zip(corpus.src, corpus.tgt, strict=True)) == [("eins", "one"), ("zwei", "two")]


def test_filter_pairs_counts_and_summary():
    src = [
        "a dog runs",  # kept
        "",  # empty source
        "two cats",  # empty target
        "w " * 6,  # too long (6 words > 5)
        "a very long sentence here",  # ratio: 25 chars vs 3
        "short",  # kept: longer side below min_len_for_ratio, ratio not tested
        "the dog",  # kept
    ]
    tgt = ["ein hund", "x", "", "kurz", "abc", "a", "der hund"]
    corpus = ParallelCorpus(src, tgt, name="train")
    kept, report = filter_pairs(corpus, max_len=5, max_ratio=3.0, min_len_for_ratio=10)
    assert kept.src == ["a dog runs", "short", "the dog"]
    assert kept.tgt == ["ein hund", "a", "der hund"]
    assert kept.name == "train"
    assert report.kept == 3
    assert report.dropped == {"empty": 2, "too_long": 1, "ratio": 1}
    assert report.summary() == (
        "kept 3 of 7 training pairs (dropped: 2 empty, 1 too_long, 1 ratio)"
    )


def test_filter_pairs_too_long_on_target_and_custom_length():
    corpus = ParallelCorpus(["abc", "abcdef"], ["abc", "abcdef"])
    kept, report = filter_pairs(corpus, max_len=4, max_ratio=10.0, length=len)
    assert kept.src == ["abc"]
    assert report.dropped["too_long"] == 1
    corpus = ParallelCorpus(["a b", "a"], ["a", "a b c d e f"])
    kept, report = filter_pairs(corpus, max_len=4, max_ratio=100.0)
    assert kept.src == ["a b"] and report.dropped["too_long"] == 1


def test_filter_pairs_ratio_boundary():
    # 12 chars vs 4 chars: ratio exactly 3.0 is kept, above 3.0 is dropped.
    corpus = ParallelCorpus(["abcdefghijkl", "abcdefghijklm"], ["abcd", "abcd"])
    kept, report = filter_pairs(corpus, max_len=100, max_ratio=3.0, min_len_for_ratio=10)
    assert kept.src == ["abcdefghijkl"]
    assert report.dropped == {"empty": 0, "too_long": 0, "ratio": 1}
    assert report.summary() == "kept 1 of 2 training pairs (dropped: 0 empty, 0 too_long, 1 ratio)"
