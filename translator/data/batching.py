"""Token-budget batches bucketed by length, and padding into tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from translator.data.vocab import BOS_ID, EOS_ID, PAD_ID


def token_budget_batches(
    lengths: Sequence[int] | np.ndarray, batch_tokens: int, shuffle: bool = False, seed: int = 0,
    max_sentences: int = 0,
) -> list[np.ndarray]:
    """Group example indices into batches whose padded size (count x longest) fits the budget.

    Examples are sorted by length (ties broken at random when `shuffle`), cut into batches, and
    the batch order is shuffled, so each batch holds sentences of similar length. A single example
    longer than the budget still gets a batch of its own. Works on arrays (a corpus of millions
    of sentences costs a few arrays of its size, not Python lists); each batch is an int64 array
    of indices.
    """
    lengths = np.asarray(lengths, dtype=np.int64)  # (N,)
    if not len(lengths):
        return []
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    order = order[np.argsort(lengths[order], kind="stable")]  # stable: the shuffle breaks ties
    batches = np.split(order, _cut_points(lengths[order].tolist(), batch_tokens, max_sentences))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def _cut_points(ascending: list[int], batch_tokens: int, max_sentences: int) -> list[int]:
    """Where to cut lengths sorted ascending: each batch takes the most examples k with
    k x (its longest, the last) <= batch_tokens (at least one, at most `max_sentences`)."""
    cuts, start, n = [], 0, len(ascending)
    while start < n:
        most = min(n - start, max(1, batch_tokens // max(1, ascending[start])))
        if max_sentences:
            most = min(most, max_sentences)
        if ascending[start + most - 1] * most > batch_tokens:  # binary search: the cost grows
            low, high = 1, most  # with k, and k = 1 always fits (a batch of its own)
            while low < high:
                mid = (low + high + 1) // 2
                if ascending[start + mid - 1] * mid <= batch_tokens:
                    low = mid
                else:
                    high = mid - 1
            most = low
        start += most
        if start < n:
            cuts.append(start)
    return cuts


def pad(seqs: Sequence[Sequence[int]], value: int = PAD_ID) -> Tensor:
    """Right-pad lists of ids into a (B, max_len) LongTensor."""
    out = torch.full((len(seqs), max((len(s) for s in seqs), default=0)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def source_tensors(src_ids: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Source ids -> src (B, S) with EOS appended, src_lens (B,)."""
    seqs = [list(s) + [EOS_ID] for s in src_ids]
    return pad(seqs), torch.tensor([len(s) for s in seqs], dtype=torch.long)


def training_batch(src_ids, tgt_ids) -> dict[str, Tensor]:
    """Build src (B, S), src_lens (B,), tgt_in (B, T) = BOS + y, tgt_out (B, T) = y + EOS."""
    src, src_lens = source_tensors(src_ids)
    return {
        "src": src, "src_lens": src_lens,
        "tgt_in": pad([[BOS_ID] + list(t) for t in tgt_ids]),
        "tgt_out": pad([list(t) + [EOS_ID] for t in tgt_ids]),
    }
