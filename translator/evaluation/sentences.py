"""Per-segment scores: each hypothesis' sentence chrF and sentence BLEU against its reference(s)
(sacreBLEU's sentence-level metrics, default settings), and the correlation of two per-segment
series, e.g. the model's confidence with sentence chrF (a reference-free signal judged against
the references). No torch: the evaluation queue and the web use this module."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from translator.evaluation.significance import check_references


def sentence_scores(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> list[dict]:
    """[{"chrf": float, "bleu": float}] per segment against the reference streams `refs` (one
    or several references per segment, as sacreBLEU takes them)."""
    from sacrebleu.metrics import BLEU, CHRF

    check_references(refs, len(hyps))
    chrf, bleu = CHRF(), BLEU(effective_order=True)  # sentence BLEU needs the effective order
    out = []
    for i, hyp in enumerate(hyps):
        segment_refs = [stream[i] for stream in refs]
        out.append({"chrf": float(chrf.sentence_score(hyp, segment_refs).score),
                    "bleu": float(bleu.sentence_score(hyp, segment_refs).score)})
    return out


def correlations(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(Pearson, Spearman) correlation of two equally long sequences; Spearman with average
    ranks for ties."""
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    return _pearson(x, y), _pearson(_ranks(x), _ranks(y))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12))


def _ranks(v: np.ndarray) -> np.ndarray:
    order = v.argsort(kind="stable")
    ranks = np.empty_like(v)
    ranks[order] = np.arange(len(v), dtype=v.dtype)
    for value in np.unique(v):  # ties share their average rank
        tied = v == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def segment_scores(hyps: Sequence[str], refs: Sequence[Sequence[str]],
                   confidence: Sequence[float] | None) -> dict:
    """{"segments": per-segment scores (and the model's confidence where given),
    "confidence": its Pearson and Spearman correlation with sentence chrF, or None}."""
    segments = sentence_scores(hyps, refs)
    if confidence is None:
        return {"segments": segments, "confidence": None}
    for segment, value in zip(segments, confidence):
        segment["confidence"] = float(value)
    pearson, spearman = correlations(confidence, [s["chrf"] for s in segments])
    return {"segments": segments,
            "confidence": {"pearson": round(pearson, 4), "spearman": round(spearman, 4),
                           "segments": len(segments)}}
