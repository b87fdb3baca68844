"""Parallel corpora: reading (plain or gzip), normalisation, and training-time filtering.

A corpus directory follows the Multi30K layout: `{split}.{lang}` or `{split}.{lang}.gz`,
for example `train.de.gz`, `val.en`, `test_2016_flickr.de.gz`.
"""

from __future__ import annotations

import gzip
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class CorpusError(ValueError):
    """A corpus cannot be read: missing file, bad encoding, or mismatched line counts."""


# Control characters other than whitespace (which str.split handles) carry no text; as a
# str.translate table (2.4x faster than the regular expressions it replaced, same output for
# every code point).
_CONTROL = dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F, 0x200B, 0xFEFF])


def normalize(text: str) -> str:
    """NFC-normalise, drop control characters and collapse runs of whitespace."""
    text = unicodedata.normalize("NFC", text).translate(_CONTROL)
    return " ".join(text.split())


def find_split_file(data_dir: str | Path, split: str, lang: str) -> Path:
    """Return `data_dir/split.lang` or `data_dir/split.lang.gz`, whichever exists."""
    data_dir = Path(data_dir)
    for name in (f"{split}.{lang}", f"{split}.{lang}.gz"):
        path = data_dir / name
        if path.is_file():
            return path
    if not data_dir.is_dir():
        raise CorpusError(f"data directory not found: {data_dir}")
    available = sorted(p.name for p in data_dir.iterdir() if p.is_file())
    found = ", ".join(available) or "nothing"
    raise CorpusError(
        f"no file for split '{split}' and language '{lang}' in {data_dir} "
        f"(expected {split}.{lang} or {split}.{lang}.gz; found: {found})"
    )


def read_lines(path: str | Path) -> list[str]:
    """Read a UTF-8 text file (gzip if it ends in .gz), one normalised segment per line."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not valid UTF-8 (byte offset {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start a new one
    return [normalize(line) for line in lines]


def iter_raw_lines(path: str | Path) -> Iterator[bytes]:
    """The lines of a file (gunzipped if it ends in .gz) as bytes without their newline, read
    as a stream: a corpus larger than memory is never held whole."""
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            for line in f:
                yield line[:-1] if line.endswith(b"\n") else line
    except FileNotFoundError:
        raise CorpusError(f"file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None


def decode_line(raw: bytes, path: str | Path, number: int) -> str:
    """One raw line (`number` counts from 1) decoded from UTF-8 and normalised."""
    try:
        return normalize(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not valid UTF-8 (line {number}, byte {exc.start} of "
                          f"the line)") from None


@dataclass
class ParallelCorpus:
    """Aligned source and target segments (same length, line i translates line i)."""

    src: list[str]
    tgt: list[str]
    name: str = ""

    def __len__(self) -> int:
        return len(self.src)


def read_parallel(src_path: str | Path, tgt_path: str | Path) -> ParallelCorpus:
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise CorpusError(
            f"line counts differ: {src_path} has {len(src)} lines, {tgt_path} has {len(tgt)}"
        )
    return ParallelCorpus(src, tgt, name=f"{Path(src_path).name}|{Path(tgt_path).name}")


def read_split(data_dir: str | Path, split: str, src_lang: str, tgt_lang: str) -> ParallelCorpus:
    corpus = read_parallel(
        find_split_file(data_dir, split, src_lang), find_split_file(data_dir, split, tgt_lang)
    )
    corpus.name = split
    return corpus


@dataclass
class FilterReport:
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"empty": 0, "too_long": 0, "ratio": 0})

    def summary(self) -> str:
        total = self.kept + sum(self.dropped.values())
        parts = ", ".join(f"{n} {reason}" for reason, n in self.dropped.items())
        return f"kept {self.kept} of {total} training pairs (dropped: {parts})"


def filter_pairs(
    corpus: ParallelCorpus,
    max_len: int,
    max_ratio: float,
    min_len_for_ratio: int = 10,
    length=None,
) -> tuple[ParallelCorpus, FilterReport]:
    """Drop empty pairs, pairs longer than `max_len`, and pairs with implausible length ratios.

    `length(text)` measures a segment for the `max_len` test (default: whitespace words);
    the ratio test compares character lengths once the longer side has `min_len_for_ratio` chars.
    """
    length = length or (lambda s: len(s.split()))
    report = FilterReport()
    src_out, tgt_out = [], []
    for s, t in zip(corpus.src, corpus.tgt):
        reason = drop_reason(s, t, length(s), length(t), max_len, max_ratio, min_len_for_ratio)
        if reason:
            report.dropped[reason] += 1
        else:
            src_out.append(s)
            tgt_out.append(t)
    report.kept = len(src_out)
    return ParallelCorpus(src_out, tgt_out, name=corpus.name), report


def drop_reason(src: str, tgt: str, src_len: int, tgt_len: int, max_len: int, max_ratio: float,
                min_len_for_ratio: int = 10) -> str | None:
    """Why a training pair is dropped ("empty", "too_long", "ratio"), or None to keep it.

    `src_len`/`tgt_len` measure the sides for `max_len`; the ratio test compares character
    lengths once the longer side has `min_len_for_ratio` characters."""
    if not src or not tgt:
        return "empty"
    if src_len > max_len or tgt_len > max_len:
        return "too_long"
    longer, shorter = max(len(src), len(tgt)), min(len(src), len(tgt))
    if longer >= min_len_for_ratio and longer / max(1, shorter) > max_ratio:
        return "ratio"
    return None
