"""Greedy and beam search over a model exposing `encode` and `decode_step`.

Both work on a padded batch: src (B, S) ids with src_lens (B,). A sentence's output is limited
to `max_len_ratio * src_len + max_len_extra` tokens (EOS included); every hypothesis ends with
EOS or at that limit. Sentences that are done leave the batch, so the work shrinks as they finish.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .model import reorder_state
from .vocab import BOS_ID, EOS_ID


@dataclass
class Hypothesis:
    tokens: list[int]  # without BOS and EOS
    score: float  # length-normalised log-probability (the ranking score)
    log_prob: float  # total log-probability, EOS included
    attention: Tensor | None = None  # (len(tokens) + 1, S) when requested


@dataclass
class SearchConfig:
    beam_size: int = 5
    n_best: int = 1
    alpha: float = 0.6  # GNMT length penalty ((5 + len) / 6) ** alpha; 0 = none
    max_len_ratio: float = 1.5
    max_len_extra: int = 10
    return_attention: bool = False
    extra: dict = field(default_factory=dict)


def length_limits(src_lens: Tensor, cfg: SearchConfig) -> Tensor:
    return (src_lens.float() * cfg.max_len_ratio).long() + cfg.max_len_extra


def length_penalty(length: Tensor | int, alpha: float):
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def greedy_search(
    model, src: Tensor, src_lens: Tensor, cfg: SearchConfig
) -> list[list[Hypothesis]]:
    """Batched greedy decoding: one hypothesis per sentence."""
    enc = model.encode(src, src_lens)
    device, B = src.device, src.size(0)
    limits = length_limits(src_lens, cfg).to(device)  # (B,)
    max_len = int(limits.max())
    out = torch.full((B, max_len), EOS_ID, dtype=torch.long, device=device)  # (B, T)
    total = torch.zeros(B, device=device)  # (B,) summed log-probs
    lengths = torch.zeros(B, dtype=torch.long, device=device)  # (B,) tokens incl. EOS
    attn_all = (torch.zeros(B, max_len, src.size(1), device=device)  # (B, T, S)
                if cfg.return_attention else None)
    active = torch.arange(B, device=device)  # original index of each row still decoding
    prev = torch.full((B,), BOS_ID, dtype=torch.long, device=device)
    state = enc.init_state
    for t in range(max_len):
        logp, attn, state = model.decode_step(prev, enc, state)  # (b, V), (b, S)
        at_limit = limits[active] <= t + 1
        logp[at_limit, :EOS_ID] = float("-inf")  # force EOS at the length limit
        logp[at_limit, EOS_ID + 1:] = float("-inf")
        best, tok = logp.max(dim=-1)  # (b,)
        total[active] += best
        out[active, t] = tok
        if attn_all is not None:
            attn_all[active, t] = attn.float()
        ended = tok == EOS_ID
        lengths[active[ended]] = t + 1
        if ended.all():
            break
        if ended.any():
            idx = (~ended).nonzero().squeeze(1)
            active, enc, state = active[idx], enc.index_select(idx), reorder_state(state, idx)
            tok = tok[idx]
        prev = tok
    results = []
    for i, (n, score) in enumerate(zip(lengths.tolist(), total.tolist())):
        attention = attn_all[i, :n] if attn_all is not None else None
        results.append([Hypothesis(out[i, : n - 1].tolist(), score, score, attention)])
    return results


@torch.no_grad()
def beam_search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig) -> list[list[Hypothesis]]:
    """Batched beam search over B sentences x K beams; n-best lists sorted by score."""
    K, device = cfg.beam_size, src.device
    if K == 1 and cfg.n_best == 1 and not cfg.extra.get("force_beam"):
        return greedy_search(model, src, src_lens, cfg)
    if not 1 <= cfg.n_best <= K:
        raise ValueError(f"n_best must be between 1 and beam_size ({K}), got {cfg.n_best}")
    B = src.size(0)
    enc = model.encode(src, src_lens)
    expand = torch.arange(B, device=device).repeat_interleave(K)
    enc, state = enc.index_select(expand), reorder_state(enc.init_state, expand)
    limits = length_limits(src_lens, cfg).to(device)
    active = torch.arange(B, device=device)  # original sentence of each active block of K rows
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # only the first beam is alive at step 0
    history = torch.full((B * K, 0), BOS_ID, dtype=torch.long, device=device)
    attn_hist = None
    prev = torch.full((B * K,), BOS_ID, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    for t in range(int(limits.max())):
        logp, attn, state = model.decode_step(prev, enc, state)  # (b*K, V), (b*K, S)
        b, V = active.numel(), logp.size(-1)
        at_limit = (limits[active] <= t + 1).repeat_interleave(K)
        logp[at_limit, :EOS_ID] = float("-inf")
        logp[at_limit, EOS_ID + 1:] = float("-inf")
        cand = (scores.view(-1, 1) + logp).view(b, K * V)
        top_scores, top_idx = cand.topk(2 * K, dim=1)  # (b, 2K): enough to keep K non-EOS
        beam, tok = top_idx // V, top_idx % V
        rows = beam + torch.arange(b, device=device).unsqueeze(1) * K  # (b, 2K) rows into b*K
        if cfg.return_attention:
            step_attn = attn.unsqueeze(1)
            attn_hist = step_attn if attn_hist is None else torch.cat([attn_hist, step_attn], 1)
        # 1. Finalise EOS candidates that rank within the top K of their sentence.
        is_eos = (tok == EOS_ID) & torch.isfinite(top_scores)
        is_eos[:, K:] = False
        if is_eos.any():
            for r, c in is_eos.nonzero().tolist():
                i, row = int(active[r]), int(rows[r, c])
                raw = float(top_scores[r, c])
                hyp_attn = attn_hist[row] if cfg.return_attention else None
                finished[i].append(Hypothesis(
                    history[row].tolist(), raw / length_penalty(t + 1, cfg.alpha), raw, hyp_attn))
        # 2. The best K non-EOS candidates stay alive.
        alive_scores = top_scores.masked_fill(tok == EOS_ID, float("-inf"))
        keep_scores, keep_pos = alive_scores.topk(K, dim=1)  # (b, K)
        keep_rows = rows.gather(1, keep_pos).view(-1)  # (b*K,)
        keep_tok = tok.gather(1, keep_pos).view(-1)
        # 3. A sentence is done once it has K finished hypotheses (or hit its length limit).
        done = torch.tensor([len(finished[i]) >= K for i in active.tolist()], device=device)
        done |= limits[active] <= t + 1
        history = torch.cat([history[keep_rows], keep_tok.unsqueeze(1)], dim=1)
        if attn_hist is not None:
            attn_hist = attn_hist[keep_rows]
        state, scores, prev = reorder_state(state, keep_rows), keep_scores, keep_tok
        if done.all():
            break
        if done.any():
            blocks = (~done).nonzero().squeeze(1)
            rows_left = (blocks.unsqueeze(1) * K + torch.arange(K, device=device)).view(-1)
            active, scores, prev = active[blocks], scores[blocks], prev[rows_left]
            history, state = history[rows_left], reorder_state(state, rows_left)
            enc = enc.index_select(rows_left)
            if attn_hist is not None:
                attn_hist = attn_hist[rows_left]
    return [sorted(hyps, key=lambda h: -h.score)[: cfg.n_best] for hyps in finished]


def search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig) -> list[list[Hypothesis]]:
    """Greedy when beam_size is 1, beam search otherwise."""
    return beam_search(model, src, src_lens, cfg)
