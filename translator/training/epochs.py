"""How an epoch's training batches are shared out: `EpochPlan` shuffles an epoch's batches the
same on every rank and gives each update of this rank its own, disjoint from other ranks'
(segmented anew by sampling under subword regularisation: translator/data/sampling.py)."""

from __future__ import annotations

import numpy as np

from translator.config import TrainConfig
from translator.data.batching import token_budget_batches
from translator.data.compact import CompactCorpus
from translator.data.sampling import SampledSegmentation
from translator.training.distributed import Ranks


class EpochPlan:
    """The batches of `corpus` (pairs of `lengths`, CompactCorpus.batch_lengths) each update
    takes: one batch per rank and accumulation step."""

    def __init__(self, corpus: CompactCorpus, lengths: np.ndarray, train: TrainConfig,
                 ranks: Ranks, sampled: SampledSegmentation | None = None):
        self.corpus, self.lengths, self.sampled = corpus, lengths, sampled
        self.batch_tokens, self.seed = train.batch_tokens, train.seed
        self.accum_steps, self.ranks = train.accum_steps, ranks

    def batches(self, epoch: int) -> list[np.ndarray]:
        """All of an epoch's batches (index arrays), the same on every rank."""
        return token_budget_batches(self.lengths, self.batch_tokens, shuffle=True,
                                    seed=self.seed * 1000 + epoch)

    def updates(self, n_batches: int) -> int:
        """Updates in an epoch of `n_batches`: each takes one batch per rank and accumulation
        step (the few left over are dropped, as DistributedSampler's drop_last does)."""
        return n_batches // (self.ranks.world * self.accum_steps)

    def update_batches(self, batches: list[np.ndarray], update: int, epoch: int
                       ) -> list[dict]:
        """This rank's batches for update `update` of epoch `epoch`: disjoint from other
        ranks'."""
        first = update * self.ranks.world * self.accum_steps + self.ranks.rank
        picked = [batches[first + k * self.ranks.world] for k in range(self.accum_steps)]
        if self.sampled is None:
            return [self.corpus.batch(idx) for idx in picked]
        return [self.sampled.batch(idx, (self.seed, epoch, update, self.ranks.rank, k))
                for k, idx in enumerate(picked)]
