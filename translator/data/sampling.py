"""Subword regularisation ("Subword Regularization", Kudo, ACL 2018): every training batch's
sentences segmented anew by sampling from the SentencePiece model, instead of the one best
segmentation the cache holds, so the model learns from many segmentations of each word.

`data.subword_alpha` > 0 turns it on. A batch's sentences are decoded back to text and encoded
again with SentencePiece's sampling over all segmentations (`nbest_size=-1`) smoothed by alpha:
for a unigram model the lower alpha, the more varied (and longer) the samples; for a BPE model
alpha is the probability of dropping a merge (BPE-dropout). Control symbols stay where they are
(the tag that starts a synthetic source, the target-language token that ends a multilingual
one) and the text between them is sampled. A sentence holding an unknown piece, or whose sample
is longer than `data.max_len`, keeps its cached segmentation.

Samples are seeded by the batch's place in the run (the seed, epoch, update, rank and
accumulation step) and its side, so a resumed run draws what the uninterrupted one would have,
and a word both sides share (a name, a number) is not segmented alike on both by the same
draws. Validation and inference always use the best segmentation.

Batches are cut by the cached lengths (`train.batch_tokens`), so a sampled batch holds more
tokens than that budget by the samples' growth (about 1.14x at alpha 0.3 on Multi30K's unigram
vocabulary, 1.96x at 0.1): budget a GPU's memory for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import sentencepiece as spm

from translator.data.batching import training_batch
from translator.data.compact import CompactCorpus
from translator.data.vocab import UNK_ID, Tokenizer

if TYPE_CHECKING:
    from torch import Tensor


class SampledSegmentation:
    """Training batches of `corpus` with each side's sentences re-segmented by sampling."""

    def __init__(self, corpus: CompactCorpus, src_tok: Tokenizer, tgt_tok: Tokenizer,
                 alpha: float, max_len: int):
        self.corpus, self.alpha, self.max_len = corpus, alpha, max_len
        self.sides = [_Side(src_tok), _Side(tgt_tok)]

    def batch(self, idx: np.ndarray, place: tuple[int, ...]) -> dict[str, Tensor]:
        """The training batch of pairs `idx` (as CompactCorpus.batch builds it), sampled with
        the seed of `place` (integers that name the batch in the run)."""
        pairs = [self.corpus.pair(int(i)) for i in idx]
        src, tgt = (side.sample([pair[n] for pair in pairs], self.alpha, self.max_len,
                                seed=_seed(*place, n))
                    for n, side in enumerate(self.sides))
        return training_batch(src, tgt)


def _seed(*place: int) -> int:
    """A SentencePiece seed for a batch side's place in the run (SentencePiece ignores
    2**32 - 1, which means "no seed")."""
    return int(np.random.SeedSequence(list(place)).generate_state(1)[0]) % 0xFFFFFFFF


class _Side:
    """One side's tokenizer and the ids sampling keeps in place."""

    def __init__(self, tok: Tokenizer):
        self.sp = tok.sp
        self.control = frozenset(i for i in range(len(tok)) if self.sp.is_control(i))

    def sample(self, seqs: list[list[int]], alpha: float, max_len: int, seed: int
               ) -> list[list[int]]:
        """`seqs` re-segmented: the text runs between control ids of each sentence sampled
        (in one call for the batch, drawn from `seed`), a sentence with an unknown piece or a
        too-long sample kept as it is."""
        layouts = [None if UNK_ID in seq else self._runs(seq) for seq in seqs]
        texts = self.sp.decode([run for layout in layouts if layout for run in layout
                                if isinstance(run, list)])
        # SentencePiece (0.2) starts each one-thread call's draws from the seed set last
        spm.set_random_generator_seed(seed)
        samples = iter(self.sp.encode(texts, out_type=int, enable_sampling=True, alpha=alpha,
                                      nbest_size=-1, num_threads=1))
        out = []
        for seq, layout in zip(seqs, layouts):
            if layout is None:
                out.append(seq)
                continue
            new = [i for run in layout
                   for i in (next(samples) if isinstance(run, list) else (run,))]
            out.append(new if len(new) <= max(max_len, len(seq)) else seq)
        return out

    def _runs(self, seq: list[int]) -> list:
        """`seq` as control ids (ints) and the runs of text ids between them (lists)."""
        layout: list = []
        for i in seq:
            if i in self.control:
                layout.append(i)
            elif layout and isinstance(layout[-1], list):
                layout[-1].append(i)
            else:
                layout.append([i])
        return layout
