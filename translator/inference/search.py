"""Greedy and beam search over a model exposing `encode` and `decode_step`.

Both work on a padded batch: src (B, S) ids with src_lens (B,). A sentence's output is limited
to `max_len_ratio * src_len + max_len_extra` tokens (EOS included); every hypothesis ends with
EOS or at that limit. Sentences that are done leave the batch, so the work shrinks as they finish.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from translator.data.vocab import BOS_ID, EOS_ID
from translator.defaults import BEAM_SIZE, LENGTH_PENALTY
from translator.model.seq2seq import reorder_state


@dataclass
class Hypothesis:
    """One translation a search found, as target token ids with its scores."""

    tokens: list[int]  # without BOS and EOS
    score: float  # the ranking score: beam search's length-normalised log-probability;
    # greedy search's equals log_prob
    log_prob: float  # total log-probability, EOS included
    attention: Tensor | None = None  # (len(tokens) + 1, S) when requested


@dataclass
class SearchConfig:
    """How to search: beam size and n-best, the length penalty and limit, attention kept or
    not, sampling instead of the most likely token."""

    beam_size: int = BEAM_SIZE
    n_best: int = 1
    alpha: float = LENGTH_PENALTY  # GNMT length penalty ((5 + len) / 6) ** alpha; 0 = none
    max_len_ratio: float = 1.5
    max_len_extra: int = 10
    return_attention: bool = False
    # sampling instead of the most likely token (beam size 1 only; back-translation's option):
    # temperature > 0 samples from softmax(log p / temperature), top_k > 0 among the k best
    temperature: float = 0.0
    top_k: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0 or self.top_k < 0:
            raise ValueError("temperature and top_k must not be negative")
        if self.temperature > 0 and (self.beam_size != 1 or self.n_best != 1):
            raise ValueError("sampling draws one translation: beam size 1, n-best 1")


def length_limits(src_lens: Tensor, cfg: SearchConfig) -> Tensor:
    """(B,) the most target tokens (EOS included) each sentence may get from its source's
    length (B,): ratio x length + extra."""
    return (src_lens.float() * cfg.max_len_ratio).long() + cfg.max_len_extra


def length_penalty(length: Tensor | int, alpha: float):
    """GNMT's length penalty lp(L) = ((5 + L) / 6) ** alpha: beam search ranks finished
    hypotheses by log-probability / lp(length) (alpha 0: raw log-probability)."""
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
        at_limit = limits[active] <= t + 1  # (b,)
        if bool(at_limit.any()):  # force EOS at the length limit
            logp[at_limit, :EOS_ID] = float("-inf")
            logp[at_limit, EOS_ID + 1:] = float("-inf")
        tok_logp, tok = _sample(logp, cfg) if cfg.temperature > 0 else logp.max(dim=-1)  # (b,)
        total[active] += tok_logp
        out[active, t] = tok
        if attn_all is not None:
            attn_all[active, t] = attn.float()
        ended = tok == EOS_ID
        lengths[active[ended]] = t + 1
        if ended.all():
            break
        if ended.any():
            idx = (~ended).nonzero().squeeze(1)  # (b',) rows still decoding
            active, enc, state = active[idx], enc.index_select(idx), reorder_state(state, idx)
            tok = tok[idx]
        prev = tok
    results = []
    for i, (n, score) in enumerate(zip(lengths.tolist(), total.tolist())):
        attention = attn_all[i, :n] if attn_all is not None else None
        results.append([Hypothesis(out[i, : n - 1].tolist(), score, score, attention)])
    return results


def _sample(logp: Tensor, cfg: SearchConfig) -> tuple[Tensor, Tensor]:
    """(log-probability, token) per row, the token drawn from softmax(logp / temperature),
    among the `top_k` most likely when set; torch's generator (seed it to repeat a run)."""
    scaled = logp / cfg.temperature  # (b, V)
    if cfg.top_k:
        kth = scaled.topk(min(cfg.top_k, scaled.size(-1)), dim=-1).values[:, -1:]  # (b, 1)
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    tok = torch.multinomial(torch.softmax(scaled.float(), dim=-1), 1).squeeze(1)  # (b,)
    return logp.gather(1, tok.unsqueeze(1)).squeeze(1), tok


@torch.no_grad()
def beam_search(
    model, src: Tensor, src_lens: Tensor, cfg: SearchConfig
) -> list[list[Hypothesis]]:
    """Batched beam search over B sentences x K beams; n-best lists sorted by score.

    All bookkeeping is tensor work on the whole batch: each step keeps the best K non-EOS
    continuations alive and merges EOS continuations that rank within the top K into a
    (B, K) table of finished hypotheses. A sentence is done once K hypotheses have finished,
    at its length limit, or as soon as no alive beam can beat its n-th best finished one; it
    then leaves the batch.
    """
    K, device = cfg.beam_size, src.device
    if not 1 <= cfg.n_best <= K:
        raise ValueError(f"n_best must be between 1 and beam_size ({K}), got {cfg.n_best}")
    B, S = src.shape
    enc = model.encode(src, src_lens)
    expand = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,) each sentence K times
    enc, state = enc.index_select(expand), reorder_state(enc.init_state, expand)
    limits = length_limits(src_lens, cfg).to(device)  # (B,)
    max_len = int(limits.max())
    neg_inf = float("-inf")
    finished = _Finished.empty(B, K, max_len, S if cfg.return_attention else 0, device)
    # Alive beams of the b active sentences: (b, K) scores, (b*K, T) tokens (columns < t
    # filled).
    active = torch.arange(B, device=device)
    scores = torch.full((B, K), neg_inf, device=device)
    scores[:, 0] = 0.0  # only the first beam is alive at step 0
    history = torch.full((B * K, max_len), EOS_ID, dtype=torch.long, device=device)
    attn_hist = torch.zeros(B * K, max_len, S, device=device) if cfg.return_attention else None
    prev = torch.full((B * K,), BOS_ID, dtype=torch.long, device=device)
    offsets = torch.arange(B, device=device).unsqueeze(1) * K  # (B, 1) first row of each block
    for t in range(max_len):
        logp, attn, state = model.decode_step(prev, enc, state)  # (b*K, V), (b*K, S)
        b, V = active.numel(), logp.size(-1)
        at_limit = limits[active] <= t + 1  # (b,)
        if bool(at_limit.any()):  # only EOS is allowed at the length limit
            rows_at_limit = at_limit.repeat_interleave(K)  # (b*K,)
            logp[rows_at_limit, :EOS_ID] = neg_inf
            logp[rows_at_limit, EOS_ID + 1:] = neg_inf
        if attn_hist is not None:
            attn_hist[:, t] = attn.float()
        cand = (scores.view(-1, 1) + logp).view(b, K * V)  # (b, K*V) every continuation
        top_scores, top_idx = cand.topk(2 * K, dim=1)  # (b, 2K): enough to keep K non-EOS
        rows = top_idx // V + offsets[:b]  # (b, 2K) rows into the b*K alive beams
        tok = top_idx % V  # (b, 2K)
        is_eos = tok == EOS_ID  # (b, 2K)
        # 1. EOS candidates within the top K are merged into the finished table.
        new_fin = is_eos[:, :K] & torch.isfinite(top_scores[:, :K])  # (b, K)
        if bool(new_fin.any()):
            finished.merge(active, new_fin, top_scores[:, :K], rows[:, :K], t, cfg.alpha,
                           history, attn_hist)
        # 2. The best K non-EOS candidates stay alive.
        keep_scores, keep_pos = top_scores.masked_fill(is_eos, neg_inf).topk(K, dim=1)  # (b, K)
        keep_rows = rows.gather(1, keep_pos).view(-1)  # (b*K,)
        prev = tok.gather(1, keep_pos).view(-1)  # (b*K,)
        history = history[keep_rows]
        history[:, t] = prev
        if attn_hist is not None:
            attn_hist = attn_hist[keep_rows]
        state, scores = reorder_state(state, keep_rows), keep_scores
        # 3. Sentences with K finished hypotheses, at their length limit, or whose n-best can
        # no longer change, are done.
        done = (finished.count[active] >= K) | at_limit | _settled(
            scores[:, 0], finished.score[active, cfg.n_best - 1], t, limits[active], cfg.alpha)
        if bool(done.all()):
            break
        if bool(done.any()):
            blocks = (~done).nonzero().squeeze(1)  # (b',) sentences still decoding
            # (b'*K,) their beams' rows
            rows_left = (blocks.unsqueeze(1) * K + torch.arange(K, device=device)).view(-1)
            active, scores, prev = active[blocks], scores[blocks], prev[rows_left]
            history, state = history[rows_left], reorder_state(state, rows_left)
            enc = enc.index_select(rows_left)
            if attn_hist is not None:
                attn_hist = attn_hist[rows_left]
    return finished.collect(cfg.n_best)


def _settled(best_alive: Tensor, nth_finished: Tensor, t: int, limits: Tensor,
             alpha: float) -> Tensor:
    """(b,) True where no alive beam can still finish above the n-th best finished hypothesis.

    Log-probabilities only fall as a beam grows, so a beam with raw score s <= 0 can at best
    finish with s / lp(L) for some length L in [t + 2, limit]; the larger of the two ends
    bounds it (lp is monotonic in L). Stopping then leaves the n-best list exactly as it would
    be after running on: an exact early stop, not a heuristic.
    """
    bound = torch.maximum(best_alive / length_penalty(limits.float(), alpha),  # (b,)
                          best_alive / length_penalty(t + 2, alpha))
    return nth_finished >= bound


@dataclass
class _Finished:
    """The finished hypotheses of every sentence of a beam search, K per sentence, kept
    sorted by score (T = the longest length limit, S = source length)."""

    score: Tensor  # (B, K) length-normalised; -inf where none has finished
    logp: Tensor  # (B, K) raw log-probability
    length: Tensor  # (B, K) tokens, EOS included
    tokens: Tensor  # (B, K, T)
    attn: Tensor | None  # (B, K, T, S) when the search returns attention
    count: Tensor  # (B,) hypotheses finished so far (merged or not)

    @classmethod
    def empty(cls, B: int, K: int, T: int, S: int, device) -> _Finished:
        """An empty table; with attention when S > 0."""
        return cls(score=torch.full((B, K), float("-inf"), device=device),
                   logp=torch.zeros(B, K, device=device),
                   length=torch.zeros(B, K, dtype=torch.long, device=device),
                   tokens=torch.full((B, K, T), EOS_ID, dtype=torch.long, device=device),
                   attn=torch.zeros(B, K, T, S, device=device) if S else None,
                   count=torch.zeros(B, dtype=torch.long, device=device))

    def merge(self, active: Tensor, new_fin: Tensor, cand_scores: Tensor, cand_rows: Tensor,
              t: int, alpha: float, history: Tensor, attn_hist: Tensor | None) -> None:
        """Merge step `t`'s EOS candidates of the active sentences (`new_fin` (b, K), their
        raw scores and alive rows (b, K)) into each sentence's top K."""
        K = self.score.size(1)
        norm = (cand_scores / length_penalty(t + 1, alpha)).masked_fill(~new_fin,
                                                                          float("-inf"))
        all_scores = torch.cat([self.score[active], norm], dim=1)  # (b, 2K)
        best, pos = all_scores.topk(K, dim=1)  # (b, K)
        from_new = pos >= K  # (b, K) taken from this step's candidates, else kept
        new_idx = (pos - K).clamp(min=0)  # (b, K)
        old_idx = pos.clamp(max=K - 1)  # (b, K)
        cand_row = cand_rows.gather(1, new_idx)  # (b, K) alive row that produced the EOS
        self.tokens[active] = torch.where(  # (b, K, T)
            from_new.unsqueeze(-1), history[cand_row],
            self.tokens[active].gather(1, old_idx.unsqueeze(-1).expand(
                -1, -1, self.tokens.size(-1))))
        self.logp[active] = torch.where(from_new, cand_scores.gather(1, new_idx),
                                        self.logp[active].gather(1, old_idx))
        self.length[active] = torch.where(from_new, torch.full_like(pos, t + 1),
                                          self.length[active].gather(1, old_idx))
        if self.attn is not None:
            old = self.attn[active].gather(1, old_idx[:, :, None, None].expand(
                -1, -1, *self.attn.shape[2:]))  # (b, K, T, S)
            self.attn[active] = torch.where(from_new[:, :, None, None], attn_hist[cand_row],
                                            old)
        self.score[active] = best
        self.count[active] += new_fin.sum(1)

    def collect(self, n_best: int) -> list[list[Hypothesis]]:
        """Sorted n-best lists, one per sentence (one tolist per tensor, not per step)."""
        scores, logps, lens = self.score.tolist(), self.logp.tolist(), self.length.tolist()
        tokens = self.tokens.tolist()
        results = []
        for i in range(len(scores)):
            hyps = []
            for k in range(min(n_best, len(scores[i]))):
                if scores[i][k] == float("-inf"):
                    break
                n = lens[i][k]
                attention = self.attn[i, k, :n] if self.attn is not None else None
                hyps.append(Hypothesis(tokens[i][k][: n - 1], scores[i][k], logps[i][k],
                                       attention))
            results.append(hyps)
        return results


def search(model, src: Tensor, src_lens: Tensor, cfg: SearchConfig) -> list[list[Hypothesis]]:
    """Greedy when beam_size and n_best are 1 (the same tokens for less work; its `score` is
    not length-normalised), else beam search."""
    if cfg.beam_size == 1 and cfg.n_best == 1:
        return greedy_search(model, src, src_lens, cfg)
    return beam_search(model, src, src_lens, cfg)
