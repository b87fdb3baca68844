"""Attentional LSTM encoder-decoder: embeddings, the bidirectional encoder, attention and the
output layer; the decoder is one of two strategies in their own modules:

- "fused" (default, translator/model/fused.py): attention on top of the recurrent layer, no
  Python loop over time steps in training;
- "input_feeding" (translator/model/input_feeding.py): Luong et al. (2015) input feeding.

Shapes use B = batch, S = source length, T = target length, E = embedding size,
H = encoder hidden size per direction, D = decoder hidden size, A = attention vector size,
V = target vocabulary size, L = decoder layers.

Search lives elsewhere (translator/inference/search.py): it needs only `encode` and `decode_step`;
int8 inference copies come from translator/model/quantize.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translator.config import ModelConfig
from translator.data.vocab import PAD_ID
from translator.model.dropout import Dropout
from translator.model.fused import FusedDecoder
from translator.model.input_feeding import InputFeedingDecoder

DECODERS = {"fused": FusedDecoder, "input_feeding": InputFeedingDecoder}


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
    """The attentional encoder-decoder: a bidirectional LSTM encoder, an LSTM decoder (a
    strategy from DECODERS: "fused" or "input_feeding", whose layers it registers here) with
    Luong "general" attention, and an output layer (tied to the target embeddings unless
    `model.tie_embeddings` is off).

    What search relies on (translator/inference/search.py): `encode(src, src_lens)` once per
    batch -> EncoderOutput, then `decode_step(prev_tokens, enc, state)` per target step ->
    (log-probabilities (B, V), attention (B, S), state); `reorder_state` follows the beams.
    Training calls `forward`, which returns attentional vectors (B, T, A), not logits: the
    loss applies the output layer itself (translator/model/loss.py)."""

    def __init__(self, cfg: ModelConfig, src_vocab: int, tgt_vocab: int):
        super().__init__()
        self.cfg = cfg
        E, H, D, A = cfg.emb_dim, cfg.enc_hidden, cfg.dec_hidden, cfg.attn_dim
        self.decoder = DECODERS[cfg.decoder]()
        # Embeddings are initialised small (std E^-1/2: they are tied to the output layer);
        # with `emb_scale` they are multiplied by sqrt(E) where they enter an LSTM, so the
        # recurrent layers see inputs of unit scale from the first update.
        self.emb_scale = (cfg.emb_scale_factor or math.sqrt(E)) if cfg.emb_scale else 1.0
        self.src_emb = nn.Embedding(src_vocab, E, padding_idx=PAD_ID)
        self.tgt_emb = nn.Embedding(tgt_vocab, E, padding_idx=PAD_ID)
        # One fused unidirectional LSTM per direction and layer (see `encode`).
        self.enc_fwd = nn.ModuleList(
            nn.LSTM(E if i == 0 else 2 * H, H, batch_first=True) for i in range(cfg.enc_layers))
        self.enc_bwd = nn.ModuleList(
            nn.LSTM(E if i == 0 else 2 * H, H, batch_first=True) for i in range(cfg.enc_layers))
        self.bridge = nn.Linear(2 * H, cfg.dec_layers * D)  # final encoder state -> h0 per layer
        self.key_proj = nn.Linear(2 * H, D, bias=False)  # Luong "general" score h^T W e
        self.decoder.build(self)  # its layers, registered here in the order checkpoints know
        self.combine = nn.Linear(D + 2 * H, A)  # attentional vector tanh(W [h; ctx])
        self.out_bias = nn.Parameter(torch.zeros(tgt_vocab))
        self.out_proj = None if cfg.tie_embeddings else nn.Linear(A, tgt_vocab, bias=False)
        self.drop = Dropout(cfg.dropout)
        self.emb_drop = Dropout(cfg.emb_dropout)
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
        """Switch to eval mode and let the decoder precompute its first layer's input gates
        for every target token (the fused decoder's gate_table (V, 4D)): a decoding step
        then gathers rows instead of multiplying embeddings (18% of a step's FLOPs; exact up
        to float rounding). The table is dropped when the model goes back to training."""
        self.eval()
        with torch.no_grad():
            self.gate_table = self.decoder.gate_table(self)
        return self

    def embed_target(self, tokens: Tensor) -> Tensor:
        """tokens (...) -> scaled target embeddings (..., E), before dropout."""
        emb = self.tgt_emb(tokens)
        return emb * self.emb_scale if self.emb_scale != 1.0 else emb

    def target_embeddings(self) -> Tensor:
        """(V, E): every target token's scaled embedding (the rows `embed_target` gives)."""
        weight = self.tgt_emb.weight
        return weight * self.emb_scale if self.emb_scale != 1.0 else weight

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
        x = self.src_emb(src)  # (B, S, E)
        x = self.emb_drop(x * self.emb_scale if self.emb_scale != 1.0 else x)
        for i, (fwd, bwd) in enumerate(zip(self.enc_fwd, self.enc_bwd)):
            if i > 0:
                x = self.drop(x)
            out_f, _ = fwd(x)  # (B, S, H)
            x_rev = x.gather(1, rev.unsqueeze(-1).expand(-1, -1, x.size(-1)))
            out_b, _ = bwd(x_rev)  # (B, S, H), each sentence read from its last token
            out_b = out_b.gather(1, rev.unsqueeze(-1).expand(-1, -1, out_b.size(-1)))
            x = torch.cat([out_f, out_b], dim=-1)  # (B, S, 2H)
        H = self.cfg.enc_hidden
        last = (lens - 1).unsqueeze(-1).expand(-1, 1, H)  # (B, 1, H)
        final = torch.cat([x[:, :, :H].gather(1, last)[:, 0], x[:, 0, H:]], dim=-1)  # (B, 2H)
        outputs = self.drop(x)  # (B, S, 2H)
        D = self.cfg.dec_hidden
        h0 = torch.tanh(self.bridge(final)).view(B, self.cfg.dec_layers, D)  # (B, L, D)
        init = self.decoder.initial_state(h0, torch.zeros_like(h0), self)
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

    def decode_vectors(self, tgt_in: Tensor, enc: EncoderOutput, state=None):
        """Teacher forcing: tgt_in (B, T) -> attentional vectors (B, T, A), attention, state."""
        emb = self.emb_drop(self.embed_target(tgt_in))  # (B, T, E)
        state = enc.init_state if state is None else state
        return self.decoder.run(self, emb, enc, state)

    def decode(self, tgt_in: Tensor, enc: EncoderOutput, state=None):
        """Teacher forcing: tgt_in (B, T) -> logits (B, T, V), attention (B, T, S), state."""
        vecs, weights, state = self.decode_vectors(tgt_in, enc, state)
        return self.logits(vecs), weights, state

    def output_layer(self) -> tuple[Tensor, Tensor]:
        """(weight (V, A), bias (V,)) of the output projection (tied to target embeddings)."""
        weight = self.tgt_emb.weight if self.out_proj is None else self.out_proj.weight
        return weight, self.out_bias

    def decode_step(self, prev_tokens: Tensor, enc: EncoderOutput, state):
        """One step: prev_tokens (B,) -> log-probs (B, V), attention (B, S), new state."""
        if self.training:  # with dropout, as teacher forcing runs it
            logits, weights, state = self.decode(prev_tokens.unsqueeze(1), enc, state)
            return torch.log_softmax(logits[:, 0].float(), dim=-1), weights[:, 0], state
        attn_vec, weights, state = self.decoder.step(self, prev_tokens, enc, state)
        return torch.log_softmax(self.logits(attn_vec).float(), dim=-1), weights, state

    def forward(self, src: Tensor, src_lens: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_lens (B,), tgt_in (B, T) starting with BOS -> vectors (B, T, A).

        Training applies the output layer together with the loss (translator/model/loss.py);
        `logits(vectors)` gives (B, T, V) logits.
        """
        return self.decode_vectors(tgt_in, self.encode(src, src_lens))[0]


def reorder_state(state: tuple[Tensor, ...], index: Tensor) -> tuple[Tensor, ...]:
    """Select/reorder the batch entries of a decoder state: index is (B',)."""
    return tuple(s.index_select(0, index) for s in state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
