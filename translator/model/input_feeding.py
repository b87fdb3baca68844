"""The "input_feeding" decoder: Luong et al. (2015) input feeding. The previous attentional
vector is fed to the LSTM cell with the target embedding, which forces a Python loop over
target steps in training (slower than the fused decoder; kept for comparison and for
checkpoints trained with it). One layer only.

Like the fused decoder, a strategy of `Seq2Seq` whose one layer is registered on the model
under the name checkpoints use (`dec_cell`).

Shapes: B = batch, T = target length, S = source length, E = embedding size, D = decoder hidden
size, A = attention vector size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class InputFeedingDecoder:
    """One LSTM cell fed [target embedding; previous attentional vector], a step at a time."""

    name = "input_feeding"

    def build(self, model: nn.Module) -> None:
        cfg = model.cfg
        if cfg.dec_layers != 1:
            raise ValueError("the input_feeding decoder supports dec_layers=1 only")
        model.dec_cell = nn.LSTMCell(cfg.emb_dim + cfg.attn_dim, cfg.dec_hidden)

    def initial_state(self, h0: Tensor, c0: Tensor, model: nn.Module) -> tuple[Tensor, ...]:
        """h0, c0 (B, 1, D) -> (h, c, previous attentional vector): (B, D), (B, D), (B, A)."""
        return h0[:, 0], c0[:, 0], h0.new_zeros(h0.size(0), model.cfg.attn_dim)

    def run(self, model: nn.Module, emb: Tensor, enc, state):
        """Step loop: emb (B, T, E) -> attn vectors (B, T, A), weights (B, T, S), state."""
        h, c, prev = state
        vecs, all_weights = [], []
        for t in range(emb.size(1)):
            h, c = model.dec_cell(torch.cat([emb[:, t], prev], dim=-1), (h, c))
            context, weights = model.attend(h.unsqueeze(1), enc)
            vec = torch.tanh(model.combine(torch.cat([model.drop(h), context[:, 0]], dim=-1)))
            prev = model.drop(vec)  # (B, A)
            vecs.append(prev)
            all_weights.append(weights[:, 0])
        return torch.stack(vecs, 1), torch.stack(all_weights, 1), (h, c, prev)

    def step(self, model: nn.Module, prev_tokens: Tensor, enc, state):
        """One inference step through `run` (the cell loop is a single step anyway):
        prev_tokens (B,) -> attentional vectors (B, A), attention (B, S), state."""
        vecs, weights, state = self.run(model, model.embed_target(prev_tokens.unsqueeze(1)),
                                        enc, state)
        return vecs[:, 0], weights[:, 0], state

    def gate_table(self, model: nn.Module) -> Tensor | None:
        return None  # the cell's input holds the previous attentional vector: no table

    def for_int8(self, model: nn.Module) -> None:
        pass  # nn.LSTMCell is quantized as it is
