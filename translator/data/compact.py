"""Compact encoded corpora: every sentence's token ids in one flat array per side, with offsets.

A corpus of N pairs is four arrays: `src_tokens` (all source ids one after another; uint16 when
the vocabulary has at most 65,536 pieces, else int32), `src_offsets` (N + 1 int64: sentence i is
`src_tokens[src_offsets[i]:src_offsets[i + 1]]`) and the same for the target. 5 million pairs of
25 subwords a side take 500 MB of ids and 80 MB of offsets, against some 7.5 GB as Python lists.
On disk they are raw files memory-mapped on load, so the operating system pages in what the
batches touch and a corpus larger than memory still trains. translator/data/prepare.py writes them
(its spawned encoding processes import this module without loading torch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from translator.data.vocab import BOS_ID, EOS_ID, PAD_ID

if TYPE_CHECKING:
    from torch import Tensor

META = "arrays.json"
"""The arrays' dtypes and sizes, written last: a directory without it is incomplete."""


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest dtype that holds every id of a vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.int32)


@dataclass
class CompactCorpus:
    """Aligned encoded pairs as flat arrays (see the module docstring)."""

    src_tokens: np.ndarray  # (source tokens,)
    src_offsets: np.ndarray  # (N + 1,) int64
    tgt_tokens: np.ndarray  # (target tokens,)
    tgt_offsets: np.ndarray  # (N + 1,) int64

    def __len__(self) -> int:
        return len(self.src_offsets) - 1

    def src_lengths(self) -> np.ndarray:
        return np.diff(self.src_offsets)  # (N,)

    def tgt_lengths(self) -> np.ndarray:
        return np.diff(self.tgt_offsets)  # (N,)

    def batch_lengths(self) -> np.ndarray:
        """max(source, target) + 1 per pair (the EOS/BOS each side gets): what batching sizes."""
        return (np.maximum(self.src_lengths(), self.tgt_lengths()) + 1).astype(np.int32)

    def pair(self, i: int) -> tuple[list[int], list[int]]:
        return (self.src_tokens[self.src_offsets[i]:self.src_offsets[i + 1]].tolist(),
                self.tgt_tokens[self.tgt_offsets[i]:self.tgt_offsets[i + 1]].tolist())

    def batch(self, idx: np.ndarray) -> dict[str, Tensor]:
        """The training batch of pairs `idx`, as batching.training_batch builds it: src (B, S) =
        x + EOS, src_lens (B,), tgt_in (B, T) = BOS + y, tgt_out (B, T) = y + EOS."""
        import torch  # here, not at the top: the encoding processes need no torch

        idx = np.asarray(idx, dtype=np.int64)
        src, src_lens = _padded(self.src_tokens, self.src_offsets, idx, suffix=EOS_ID)
        tgt_in, _ = _padded(self.tgt_tokens, self.tgt_offsets, idx, prefix=BOS_ID)
        tgt_out, _ = _padded(self.tgt_tokens, self.tgt_offsets, idx, suffix=EOS_ID)
        return {"src": torch.from_numpy(src), "src_lens": torch.from_numpy(src_lens + 1),
                "tgt_in": torch.from_numpy(tgt_in), "tgt_out": torch.from_numpy(tgt_out)}

    @classmethod
    def load(cls, directory: str | Path) -> CompactCorpus:
        """Memory-map the arrays a `CompactWriter` wrote into `directory`."""
        directory = Path(directory)
        meta = json.loads((directory / META).read_text())
        dtype = np.dtype(meta["token_dtype"])

        def tokens(side: str) -> np.ndarray:
            if not meta[f"{side}_tokens"]:  # numpy cannot map an empty file
                return np.zeros(0, dtype=dtype)
            return np.memmap(directory / f"{side}.tokens", dtype=dtype, mode="r")

        corpus = cls(tokens("src"), np.load(directory / "src.offsets.npy", mmap_mode="r"),
                     tokens("tgt"), np.load(directory / "tgt.offsets.npy", mmap_mode="r"))
        corpus.check(meta, directory)
        return corpus

    def check(self, meta: dict, directory: Path) -> None:
        """Raise ValueError unless the arrays agree with each other and with the metadata
        (an entry damaged after it was written: a truncated copy, a disk error)."""
        for side, toks, offs in (("src", self.src_tokens, self.src_offsets),
                                 ("tgt", self.tgt_tokens, self.tgt_offsets)):
            if len(toks) != meta[f"{side}_tokens"] or len(offs) != meta["pairs"] + 1 \
                    or int(offs[-1]) != len(toks):
                raise ValueError(f"the cached corpus in {directory} is damaged ({side}: "
                                 f"{len(toks):,} tokens, {len(offs) - 1:,} pairs, metadata "
                                 f"{meta[f'{side}_tokens']:,} and {meta['pairs']:,}); delete "
                                 f"the directory to encode the corpus again")


def _padded(tokens: np.ndarray, offsets: np.ndarray, idx: np.ndarray, prefix: int | None = None,
            suffix: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sentences `idx` right-padded into a (B, longest + extras) int64 array, with `prefix`
    before and `suffix` after each; and their lengths without the extras (B,)."""
    starts = offsets[idx]  # (B,)
    lengths = offsets[idx + 1] - starts  # (B,)
    longest = int(lengths.max(initial=0))
    shift = 0 if prefix is None else 1
    out = np.full((len(idx), longest + shift + (suffix is not None)), PAD_ID, dtype=np.int64)
    cols = np.arange(longest)  # (L,)
    inside = cols[None, :] < lengths[:, None]  # (B, L)
    out[:, shift:shift + longest][inside] = tokens[(starts[:, None] + cols[None, :])[inside]]
    if prefix is not None:
        out[:, 0] = prefix
    if suffix is not None:
        out[np.arange(len(idx)), lengths + shift] = suffix
    return out, lengths


class CompactWriter:
    """Appends encoded pairs to a directory's raw token files; `close` writes the offsets and
    the metadata. Memory stays at one chunk's arrays plus 16 bytes per pair for the offsets."""

    def __init__(self, directory: str | Path, dtype: np.dtype):
        self.directory, self.dtype = Path(directory), np.dtype(dtype)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, BinaryIO] = {
            name: open(self.directory / name, "wb")
            for name in ("src.tokens", "tgt.tokens", "src.lengths", "tgt.lengths")}
        self.pairs = 0
        self.tokens = {"src": 0, "tgt": 0}

    def append(self, src_tokens: np.ndarray, src_lengths: np.ndarray, tgt_tokens: np.ndarray,
               tgt_lengths: np.ndarray) -> None:
        for side, toks, lens in (("src", src_tokens, src_lengths), ("tgt", tgt_tokens,
                                                                    tgt_lengths)):
            toks.astype(self.dtype, copy=False).tofile(self._files[f"{side}.tokens"])
            lens.astype(np.int64, copy=False).tofile(self._files[f"{side}.lengths"])
            self.tokens[side] += len(toks)
        self.pairs += len(src_lengths)

    def abort(self) -> None:
        """Close the files without finishing (the caller removes the directory)."""
        for f in self._files.values():
            f.close()

    def close(self, **meta) -> None:
        self.abort()
        for side in ("src", "tgt"):
            lengths_path = self.directory / f"{side}.lengths"
            lengths = np.fromfile(lengths_path, dtype=np.int64)
            offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            np.save(self.directory / f"{side}.offsets.npy", offsets)
            lengths_path.unlink()
        (self.directory / META).write_text(json.dumps({
            "pairs": self.pairs, "token_dtype": self.dtype.name,
            "src_tokens": self.tokens["src"], "tgt_tokens": self.tokens["tgt"], **meta},
            indent=2) + "\n")
