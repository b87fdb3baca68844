"""Several models of one vocabulary decoding together: the `encode` / `decode_step` interface
the search uses (translator/inference/search.py), over every member at once.

At each step every member scores the same prefixes and the ensemble's log-probabilities are
the members' averaged (a log-linear ensemble, as Marian and Nematus combine their scorers:
the geometric mean of the members' distributions, not renormalised), so a hypothesis' score
is the mean of its members' scores and an ensemble of a model with itself decodes exactly as
the model alone. The attention returned (what alignments and protected spans read) is the
members' mean. Loading, the checks that members fit together and the confidence calibration
are in translator/inference/ensemble.py.

Shapes as in translator/model/seq2seq.py: B = batch, S = source length, V = target vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class EnsembleEncoderOutput:
    """Each member's encoder output; the decoder states of all members travel as one flat
    tuple (what the search reorders), `sizes` saying how many tensors are each member's."""

    members: tuple  # one EncoderOutput per member
    sizes: tuple[int, ...]

    @property
    def init_state(self) -> tuple[Tensor, ...]:
        return tuple(s for enc in self.members for s in enc.init_state)

    def index_select(self, index: Tensor) -> EnsembleEncoderOutput:
        """Reorder or repeat sentences (beam expansion) in every member: index is (B',)."""
        return EnsembleEncoderOutput(tuple(enc.index_select(index) for enc in self.members),
                                     self.sizes)


class Ensemble(nn.Module):
    """Models of one target vocabulary behind one `encode` / `decode_step`."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two models")
        self.members = nn.ModuleList(members)

    def prepare_inference(self) -> Ensemble:
        """Eval mode, and each member's own preparation (its decoder's gate table)."""
        for member in self.members:
            if hasattr(member, "prepare_inference"):
                member.prepare_inference()
        return self.eval()

    def encode(self, src: Tensor, src_lens: Tensor) -> EnsembleEncoderOutput:
        encs = tuple(member.encode(src, src_lens) for member in self.members)
        return EnsembleEncoderOutput(encs, tuple(len(enc.init_state) for enc in encs))

    def decode_step(self, prev_tokens: Tensor, enc: EnsembleEncoderOutput, state):
        """One step: prev_tokens (B,) -> averaged log-probs (B, V), mean attention (B, S), the
        members' new states (one flat tuple)."""
        log_probs, attentions, states, start = [], [], [], 0
        for member, member_enc, size in zip(self.members, enc.members, enc.sizes):
            logp, attn, new = member.decode_step(prev_tokens, member_enc,
                                                 tuple(state[start: start + size]))
            start += size
            log_probs.append(logp.float())
            attentions.append(attn.float())
            states.extend(new)
        return (torch.stack(log_probs).mean(0), torch.stack(attentions).mean(0), tuple(states))
