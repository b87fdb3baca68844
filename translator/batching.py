"""Token-budget batches bucketed by length, and padding into tensors."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch import Tensor

from .vocab import BOS_ID, EOS_ID, PAD_ID


def token_budget_batches(
    lengths: Sequence[int], batch_tokens: int, shuffle: bool = False, seed: int = 0,
    max_sentences: int = 0,
) -> list[list[int]]:
    """Group example indices into batches whose padded size (count x longest) fits the budget.

    Examples are sorted by length (ties broken at random when `shuffle`), cut into batches, and
    the batch order is shuffled, so each batch holds sentences of similar length. A single example
    longer than the budget still gets a batch of its own.
    """
    rng = random.Random(seed)  # noqa: S311 (batch order, seeded for exact resume: not a secret)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
    order.sort(key=lambda i: lengths[i])  # stable: the shuffle breaks ties
    batches, current, longest = [], [], 0
    for i in order:
        longest_if_added = max(longest, lengths[i])
        too_big = longest_if_added * (len(current) + 1) > batch_tokens
        too_many = max_sentences and len(current) >= max_sentences
        if current and (too_big or too_many):
            batches.append(current)
            current, longest_if_added = [], lengths[i]
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


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
