"""Attentional LSTM encoder-decoder.

Shapes use B = batch, S = source length, T = target length, E = embedding size,
H = encoder hidden size per direction, D = decoder hidden size, A = attention vector size,
V = target vocabulary size.

Two decoders are available:
- "fused" (default): attention is computed on top of the recurrent layer, so in training the
  first LSTM runs as one fused `nn.LSTM` call over the whole target sequence and attention is one
  batched matmul over all steps. Optional further layers read [first-layer output; context] and
  are fused as well. No Python loop over time steps during training.
- "input_feeding": Luong et al. (2015) input feeding; the previous attentional vector is fed to
  the LSTM cell, which forces a Python loop over target steps during training.

Search lives elsewhere (translator/search.py): it needs only `encode` and `decode_step`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig
from .vocab import PAD_ID


@dataclass
class EncoderOutput:
    """Everything the decoder needs from the source; all tensors are batch-first."""

    outputs: Tensor  # (B, S, 2H) encoder states (attention values)
    keys: Tensor  # (B, S, D) attention keys, projected once per sentence
    mask: Tensor  # (B, S) True at real tokens
    init_state: tuple[Tensor, ...]  # decoder state at step 0, each (B, ...)

    def index_select(self, index: Tensor) -> EncoderOutput:
        """Reorder or repeat sentences (beam expansion): index is (B',)."""
        return EncoderOutput(
            self.outputs.index_select(0, index), self.keys.index_select(0, index),
            self.mask.index_select(0, index),
            tuple(s.index_select(0, index) for s in self.init_state),
        )


class Seq2Seq(nn.Module):
    def __init__(self, cfg: ModelConfig, src_vocab: int, tgt_vocab: int):
        super().__init__()
        self.cfg = cfg
        E, H, D, A = cfg.emb_dim, cfg.enc_hidden, cfg.dec_hidden, cfg.attn_dim
        if cfg.decoder == "input_feeding" and cfg.dec_layers != 1:
            raise ValueError("the input_feeding decoder supports dec_layers=1 only")
        self.src_emb = nn.Embedding(src_vocab, E, padding_idx=PAD_ID)
        self.tgt_emb = nn.Embedding(tgt_vocab, E, padding_idx=PAD_ID)
        # One fused unidirectional LSTM per direction and layer (see `encode`).
        self.enc_fwd = nn.ModuleList(
            nn.LSTM(E if i == 0 else 2 * H, H, batch_first=True) for i in range(cfg.enc_layers))
        self.enc_bwd = nn.ModuleList(
            nn.LSTM(E if i == 0 else 2 * H, H, batch_first=True) for i in range(cfg.enc_layers))
        self.bridge = nn.Linear(2 * H, cfg.dec_layers * D)  # final encoder state -> h0 per layer
        self.key_proj = nn.Linear(2 * H, D, bias=False)  # Luong "general" score h^T W e
        if cfg.decoder == "fused":
            self.dec_lstm = nn.LSTM(E, D, batch_first=True)
            self.upper_lstm = (
                nn.LSTM(D + 2 * H, D, num_layers=cfg.dec_layers - 1, batch_first=True,
                        dropout=cfg.dropout if cfg.dec_layers > 2 else 0.0)
                if cfg.dec_layers > 1 else None
            )
        else:
            self.dec_cell = nn.LSTMCell(E + A, D)
        self.combine = nn.Linear(D + 2 * H, A)  # attentional vector tanh(W [h; ctx])
        self.out_bias = nn.Parameter(torch.zeros(tgt_vocab))
        self.out_proj = None if cfg.tie_embeddings else nn.Linear(A, tgt_vocab, bias=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.emb_drop = nn.Dropout(cfg.emb_dropout)
        self.gate_table: Tensor | None = None  # see `prepare_inference`
        self._init_weights()

    def _init_weights(self) -> None:
        for emb in (self.src_emb, self.tgt_emb):
            nn.init.normal_(emb.weight, std=self.cfg.emb_dim ** -0.5)
            with torch.no_grad():
                emb.weight[PAD_ID].zero_()
        for name, p in self.named_parameters():
            if "bias_hh" in name:  # forget-gate bias 1: gradients flow early in training
                n = p.numel() // 4
                with torch.no_grad():
                    p[n: 2 * n].fill_(1.0)

    def prepare_inference(self) -> Seq2Seq:
        """Switch to eval mode and precompute the first decoder layer's input gates for every
        target token: gate_table (V, 4D) = E W_ih^T + b_ih + b_hh. A decoding step then gathers
        rows instead of multiplying embeddings (18% of a step's FLOPs; exact up to float
        rounding). The table is dropped when the model goes back to training."""
        self.eval()
        if self.cfg.decoder == "fused" and isinstance(self.dec_lstm, nn.LSTM):
            with torch.no_grad():
                lstm = self.dec_lstm
                self.gate_table = torch.addmm(lstm.bias_ih_l0 + lstm.bias_hh_l0,
                                              self.tgt_emb.weight, lstm.weight_ih_l0.t())
        return self

    def train(self, mode: bool = True) -> Seq2Seq:
        if mode:
            self.gate_table = None
        return super().train(mode)

    def _apply(self, fn, recurse=True):  # .to(device) / .half(): the table must follow
        self.gate_table = None
        return super()._apply(fn, recurse)

    # ----------------------------------------------------------------------------- encoder
    def encode(self, src: Tensor, src_lens: Tensor) -> EncoderOutput:
        """src: (B, S) ids, src_lens: (B,) lengths -> EncoderOutput.

        The bidirectional encoder is masked without packing: the backward LSTM reads each
        sentence reversed *within its length*, so padding always comes after the real tokens
        and never reaches their states. Each direction is one fused `nn.LSTM` call per layer
        (packed sequences fall back to a slow per-step kernel on CPU).
        """
        B, S = src.shape
        positions = torch.arange(S, device=src.device).unsqueeze(0)  # (1, S)
        lens = src_lens.to(src.device).unsqueeze(1)  # (B, 1)
        rev = torch.where(positions < lens, lens - 1 - positions, positions)  # (B, S)
        x = self.emb_drop(self.src_emb(src))  # (B, S, E)
        for i, (fwd, bwd) in enumerate(zip(self.enc_fwd, self.enc_bwd)):
            if i > 0:
                x = self.drop(x)
            out_f, _ = fwd(x)  # (B, S, H)
            x_rev = x.gather(1, rev.unsqueeze(-1).expand(-1, -1, x.size(-1)))
            out_b, _ = bwd(x_rev)
            out_b = out_b.gather(1, rev.unsqueeze(-1).expand(-1, -1, out_b.size(-1)))
            x = torch.cat([out_f, out_b], dim=-1)  # (B, S, 2H)
        H = self.cfg.enc_hidden
        last = (lens - 1).unsqueeze(-1).expand(-1, 1, H)  # (B, 1, H)
        final = torch.cat([x[:, :, :H].gather(1, last)[:, 0], x[:, 0, H:]], dim=-1)  # (B, 2H)
        outputs = self.drop(x)  # (B, S, 2H)
        D = self.cfg.dec_hidden
        h0 = torch.tanh(self.bridge(final)).view(B, self.cfg.dec_layers, D)  # (B, L, D)
        c0 = torch.zeros_like(h0)
        if self.cfg.decoder == "fused":
            init = (h0, c0)
        else:
            init = (h0[:, 0], c0[:, 0], x.new_zeros(B, self.cfg.attn_dim))  # + prev attn vec
        return EncoderOutput(outputs, self.key_proj(outputs), src != PAD_ID, init)

    # ----------------------------------------------------------------------------- decoder
    def attend(self, query: Tensor, enc: EncoderOutput) -> tuple[Tensor, Tensor]:
        """query: (B, T, D) -> context (B, T, 2H), weights (B, T, S)."""
        scores = torch.bmm(query, enc.keys.transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~enc.mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return torch.bmm(weights, enc.outputs), weights

    def logits(self, attn_vec: Tensor) -> Tensor:
        """attn_vec: (..., A) -> (..., V)."""
        if self.out_proj is None:
            return F.linear(attn_vec, self.tgt_emb.weight, self.out_bias)
        return self.out_proj(attn_vec) + self.out_bias

    def _fused(self, emb: Tensor, enc: EncoderOutput, state):
        """emb: (B, T, E), state (h, c) each (B, L, D) -> attn vectors (B, T, A), weights, state."""
        h, c = (s.transpose(0, 1).contiguous() for s in state)  # (L, B, D)
        out, (h1, c1) = self.dec_lstm(emb, (h[:1], c[:1]))  # (B, T, D)
        context, weights = self.attend(out, enc)
        hs, cs = [h1], [c1]
        if self.upper_lstm is not None:
            upper_in = torch.cat([self.drop(out), context], -1)  # (B, T, D + 2H)
            out, (h2, c2) = self.upper_lstm(upper_in, (h[1:], c[1:]))
            hs.append(h2)
            cs.append(c2)
        attn_vec = torch.tanh(self.combine(torch.cat([self.drop(out), context], dim=-1)))
        new_state = (torch.cat(hs).transpose(0, 1), torch.cat(cs).transpose(0, 1))
        return self.drop(attn_vec), weights, new_state

    def _input_feeding(self, emb: Tensor, enc: EncoderOutput, state):
        """Step loop: emb (B, T, E) -> attn vectors (B, T, A), weights (B, T, S), state."""
        h, c, prev = state
        vecs, all_weights = [], []
        for t in range(emb.size(1)):
            h, c = self.dec_cell(torch.cat([emb[:, t], prev], dim=-1), (h, c))
            context, weights = self.attend(h.unsqueeze(1), enc)
            vec = torch.tanh(self.combine(torch.cat([self.drop(h), context[:, 0]], dim=-1)))
            prev = self.drop(vec)
            vecs.append(prev)
            all_weights.append(weights[:, 0])
        return torch.stack(vecs, 1), torch.stack(all_weights, 1), (h, c, prev)

    def decode_vectors(self, tgt_in: Tensor, enc: EncoderOutput, state=None):
        """Teacher forcing: tgt_in (B, T) -> attentional vectors (B, T, A), attention, state."""
        emb = self.emb_drop(self.tgt_emb(tgt_in))
        state = enc.init_state if state is None else state
        run = self._fused if self.cfg.decoder == "fused" else self._input_feeding
        return run(emb, enc, state)

    def decode(self, tgt_in: Tensor, enc: EncoderOutput, state=None):
        """Teacher forcing: tgt_in (B, T) -> logits (B, T, V), attention (B, T, S), state."""
        vecs, weights, state = self.decode_vectors(tgt_in, enc, state)
        return self.logits(vecs), weights, state

    def output_layer(self) -> tuple[Tensor, Tensor]:
        """(weight (V, A), bias (V,)) of the output projection (tied to target embeddings)."""
        weight = self.tgt_emb.weight if self.out_proj is None else self.out_proj.weight
        return weight, self.out_bias

    def _fused_step(self, prev_tokens: Tensor, enc: EncoderOutput, state):
        """One inference step of the fused decoder with single-step LSTM cells (a fused LSTM
        call has a high fixed cost per call): prev_tokens (B,), state (h, c) each (B, L, D)
        -> attentional vectors (B, A), attention (B, S), state."""
        h, c = state
        if self.gate_table is not None:
            gates = torch.addmm(self.gate_table.index_select(0, prev_tokens), h[:, 0],
                                self.dec_lstm.weight_hh_l0.t())  # (B, 4D)
            out, c1 = lstm_pointwise(gates, c[:, 0])
        else:
            out, c1 = lstm_step(self.dec_lstm, 0, self.tgt_emb(prev_tokens), h[:, 0], c[:, 0])
        context, weights = self.attend(out.unsqueeze(1), enc)
        context = context[:, 0]  # (B, 2H)
        hs, cs = [out], [c1]
        if self.upper_lstm is not None:
            x = torch.cat([out, context], dim=-1)  # (B, D + 2H)
            for layer in range(self.cfg.dec_layers - 1):
                out, c_next = lstm_step(self.upper_lstm, layer, x, h[:, layer + 1],
                                        c[:, layer + 1])
                hs.append(out)
                cs.append(c_next)
                x = out
        attn_vec = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))
        return attn_vec, weights[:, 0], (torch.stack(hs, 1), torch.stack(cs, 1))

    def decode_step(self, prev_tokens: Tensor, enc: EncoderOutput, state):
        """One step: prev_tokens (B,) -> log-probs (B, V), attention (B, S), new state."""
        if self.cfg.decoder == "fused" and not self.training:
            attn_vec, weights, state = self._fused_step(prev_tokens, enc, state)
            return torch.log_softmax(self.logits(attn_vec).float(), dim=-1), weights, state
        logits, weights, state = self.decode(prev_tokens.unsqueeze(1), enc, state)
        return torch.log_softmax(logits[:, 0].float(), dim=-1), weights[:, 0], state

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_lens (B,), tgt_in (B, T) starting with BOS -> vectors (B, T, A).

        Training applies the output layer together with the loss (translator/loss.py);
        `logits(vectors)` gives (B, T, V) logits.
        """
        return self.decode_vectors(tgt_in, self.encode(src, src_lens))[0]


class StepLSTM(nn.Module):
    """An LSTM as explicit per-layer linear maps, so that dynamic quantization reaches the
    decoder's recurrent matrices in single-step use. Built from a trained `nn.LSTM`."""

    def __init__(self, lstm: nn.LSTM):
        super().__init__()
        self.gates = nn.ModuleList()
        for layer in range(lstm.num_layers):
            w_ih = getattr(lstm, f"weight_ih_l{layer}")
            w_hh = getattr(lstm, f"weight_hh_l{layer}")
            linear = nn.Linear(w_ih.size(1) + w_hh.size(1), w_ih.size(0))  # [x; h] -> 4D gates
            with torch.no_grad():
                linear.weight.copy_(torch.cat([w_ih, w_hh], dim=1))
                linear.bias.copy_(getattr(lstm, f"bias_ih_l{layer}")
                                  + getattr(lstm, f"bias_hh_l{layer}"))
            self.gates.append(linear)

    def step(self, layer: int, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        return lstm_pointwise(self.gates[layer](torch.cat([x, h], dim=-1)), c)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]):
        """nn.LSTM-compatible: x (B, T, In), state (L, B, D) each -> (B, T, D), state."""
        h, c = list(state[0].unbind(0)), list(state[1].unbind(0))
        outputs = []
        for t in range(x.size(1)):
            inp = x[:, t]
            for layer in range(len(self.gates)):
                h[layer], c[layer] = self.step(layer, inp, h[layer], c[layer])
                inp = h[layer]
            outputs.append(inp)
        return torch.stack(outputs, 1), (torch.stack(h), torch.stack(c))


def lstm_pointwise(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM cell nonlinearity: gates (B, 4D) in torch's (i, f, g, o) order, c (B, D) -> (h, c)."""
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_step(lstm: nn.Module, layer: int, x: Tensor, h: Tensor, c: Tensor):
    """One time step of layer `layer` of an LSTM: x (B, In), h and c (B, D) -> (h, c)."""
    if isinstance(lstm, StepLSTM):
        return lstm.step(layer, x, h, c)
    return torch.lstm_cell(
        x, (h, c), getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}"),
        getattr(lstm, f"bias_ih_l{layer}"), getattr(lstm, f"bias_hh_l{layer}"))


def quantize_int8(model: Seq2Seq) -> Seq2Seq:
    """An int8 copy for CPU inference: dynamic quantization of every LSTM and linear layer.

    The tied output layer is first untied into its own `nn.Linear` so that it is quantized too
    (it is the largest matrix product of a decoding step). Weights are int8 per tensor;
    activations are quantized on the fly. The copy is for translation only, not training.
    """
    import copy
    import warnings

    from torch.ao.quantization import quantize_dynamic

    model = copy.deepcopy(model).eval()
    if model.cfg.decoder == "fused":
        model.dec_lstm = StepLSTM(model.dec_lstm)
        if model.upper_lstm is not None:
            model.upper_lstm = StepLSTM(model.upper_lstm)
    if model.out_proj is None:
        weight = model.tgt_emb.weight
        model.out_proj = nn.Linear(weight.size(1), weight.size(0), bias=False)
        model.out_proj.weight = nn.Parameter(weight.detach().clone())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        return quantize_dynamic(model, {nn.LSTM, nn.LSTMCell, nn.Linear}, dtype=torch.qint8)


def reorder_state(state: tuple[Tensor, ...], index: Tensor) -> tuple[Tensor, ...]:
    """Select/reorder the batch entries of a decoder state: index is (B',)."""
    return tuple(s.index_select(0, index) for s in state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
