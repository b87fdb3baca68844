"""The "fused" decoder (the default): attention is computed on top of the recurrent layer.

In training the first LSTM runs as one fused `nn.LSTM` call over the whole target sequence and
attention is one batched matmul over all steps; optional further layers read [first-layer
output; context] and are fused as well: no Python loop over time steps. In decoding, a step
runs single-step LSTM cells (a fused call has a high fixed cost per call) and gathers the first
layer's input gates from a table precomputed per target token.

The decoder is a strategy of `Seq2Seq` (translator/model/seq2seq.py), not a module of its own:
its layers are registered on the model under the names checkpoints have always used
(`dec_lstm`, `upper_lstm`), so checkpoints load in every release.

Shapes: B = batch, T = target length, S = source length, E = embedding size, H = encoder hidden
size per direction, D = decoder hidden size, A = attention vector size, L = decoder layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from translator.model.lstm import StepLSTM, lstm_pointwise, lstm_step


class FusedDecoder:
    """Attention on top of the first LSTM layer, every layer a fused call in training."""

    name = "fused"

    def build(self, model: nn.Module) -> None:
        """Register the decoder's layers on the model."""
        cfg = model.cfg
        E, H, D = cfg.emb_dim, cfg.enc_hidden, cfg.dec_hidden
        model.dec_lstm = nn.LSTM(E, D, batch_first=True)
        model.upper_lstm = (
            nn.LSTM(D + 2 * H, D, num_layers=cfg.dec_layers - 1, batch_first=True,
                    dropout=cfg.dropout if cfg.dec_layers > 2 else 0.0)
            if cfg.dec_layers > 1 else None
        )

    def initial_state(self, h0: Tensor, c0: Tensor, model: nn.Module) -> tuple[Tensor, ...]:
        """h0, c0 (B, L, D) -> the state of step 0: (h, c) each (B, L, D)."""
        return h0, c0

    def run(self, model: nn.Module, emb: Tensor, enc, state):
        """Teacher forcing: emb (B, T, E), state (h, c) each (B, L, D) -> attn vectors
        (B, T, A), weights (B, T, S), state."""
        h, c = (s.transpose(0, 1).contiguous() for s in state)  # (L, B, D)
        out, (h1, c1) = model.dec_lstm(emb, (h[:1], c[:1]))  # (B, T, D)
        context, weights = model.attend(out, enc)  # (B, T, 2H), (B, T, S)
        hs, cs = [h1], [c1]  # (1, B, D) each
        if model.upper_lstm is not None:
            upper_in = torch.cat([model.drop(out), context], -1)  # (B, T, D + 2H)
            out, (h2, c2) = model.upper_lstm(upper_in, (h[1:], c[1:]))
            hs.append(h2)
            cs.append(c2)
        # attentional vectors (B, T, A)
        attn_vec = torch.tanh(model.combine(torch.cat([model.drop(out), context], dim=-1)))
        # the layers' final states (L, B, D), back to the batch-first layout (B, L, D)
        new_state = (torch.cat(hs).transpose(0, 1), torch.cat(cs).transpose(0, 1))
        return model.drop(attn_vec), weights, new_state

    def step(self, model: nn.Module, prev_tokens: Tensor, enc, state):
        """One inference step: prev_tokens (B,), state (h, c) each (B, L, D) -> attentional
        vectors (B, A), attention (B, S), state."""
        h, c = state
        if model.gate_table is not None:
            gates = torch.addmm(model.gate_table.index_select(0, prev_tokens), h[:, 0],
                                model.dec_lstm.weight_hh_l0.t())  # (B, 4D)
            out, c1 = lstm_pointwise(gates, c[:, 0])  # (B, D) each
        else:
            out, c1 = lstm_step(model.dec_lstm, 0, model.embed_target(prev_tokens), h[:, 0],
                                c[:, 0])
        context, weights = model.attend(out.unsqueeze(1), enc)
        context = context[:, 0]  # (B, 2H)
        hs, cs = [out], [c1]
        if model.upper_lstm is not None:
            x = torch.cat([out, context], dim=-1)  # (B, D + 2H)
            for layer in range(model.cfg.dec_layers - 1):
                out, c_next = lstm_step(model.upper_lstm, layer, x, h[:, layer + 1],
                                        c[:, layer + 1])
                hs.append(out)
                cs.append(c_next)
                x = out
        attn_vec = torch.tanh(model.combine(torch.cat([out, context], dim=-1)))  # (B, A)
        return attn_vec, weights[:, 0], (torch.stack(hs, 1), torch.stack(cs, 1))  # (B, L, D)

    def gate_table(self, model: nn.Module) -> Tensor | None:
        """The first layer's input gates for every target token (V, 4D) =
        scaled E W_ih^T + b_ih + b_hh, or None once the layer is a `StepLSTM` (int8)."""
        lstm = model.dec_lstm
        if not isinstance(lstm, nn.LSTM):
            return None
        return torch.addmm(lstm.bias_ih_l0 + lstm.bias_hh_l0, model.target_embeddings(),
                           lstm.weight_ih_l0.t())

    def for_int8(self, model: nn.Module) -> None:
        """Before dynamic quantization: the LSTMs as linear maps, so int8 reaches them."""
        model.dec_lstm = StepLSTM(model.dec_lstm)
        if model.upper_lstm is not None:
            model.upper_lstm = StepLSTM(model.upper_lstm)
