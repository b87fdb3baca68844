"""Confidence intervals and significance tests equal to sacreBLEU's, for one reference or several
per segment, and beyond sacreBLEU the interval of each system's difference from a baseline.

- `confidence_intervals` is `sacrebleu REF... -i HYP -m bleu chrf ter --confidence`: each
  metric's score, the mean of 1,000 bootstrap resamples and the half-width of their 95% interval.
- `paired_test` is `sacrebleu REF... -i BASE SYS... -m bleu chrf ter --paired-bs` (or
  `--paired-ar`): each system's score, bootstrap mean and interval (for AR too, which
  sacreBLEU's command line does not print: the baseline's equal `--confidence`'s, the others'
  come from resamples drawn after the AR trials), and its p-value against the first system;
  plus `difference`, the mean and the 2.5/97.5 percentiles of (system - baseline) over paired
  bootstrap resamples (the same resamples for both, so the interval reflects how much the two
  systems' sentences move together).

References are given as sacreBLEU takes them: a list of reference streams, each with one line
per segment (`[refs_a, refs_b]` for two references per segment). The seed is sacreBLEU's
default (12345) unless given; sacreBLEU reads it from $SACREBLEU_SEED only, so the calls take
turns on a lock while they set it. No torch: this runs on the evaluation queue and in the web.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from translator.data.corpus import CorpusError

METRICS = ("bleu", "chrf", "ter")
SEED = 12345  # sacreBLEU's default $SACREBLEU_SEED
BOOTSTRAP_SAMPLES = 1000  # sacreBLEU's --confidence-n and --paired-bs-n default
AR_TRIALS = 10000  # sacreBLEU's --paired-ar-n default

_SEED_LOCK = threading.Lock()


def _metrics() -> dict[str, Any]:
    from sacrebleu.metrics import BLEU, CHRF, TER

    return {"bleu": BLEU(), "chrf": CHRF(), "ter": TER()}


def check_references(refs: Sequence[Sequence[str]], n: int | None = None) -> None:
    """Refuse an empty set, streams of different lengths, or streams that do not match the
    `n` hypotheses of a system (CorpusError, saying which counts differ)."""
    if not refs or not refs[0]:
        raise CorpusError("nothing to score: there are no references")
    lengths = {len(stream) for stream in refs}
    if len(lengths) > 1:
        raise CorpusError(f"the reference files differ in length: {sorted(lengths)} lines")
    if n is not None and n != len(refs[0]):
        raise CorpusError(f"{n} hypotheses for {len(refs[0])} reference lines: one hypothesis "
                          f"per reference line is expected")


@contextmanager
def sacrebleu_seed(seed: int | None) -> Iterator[None]:
    """$SACREBLEU_SEED set for the duration (a process-wide setting: every caller in the
    project, metrics.paired_bootstrap included, takes turns on this one lock), and sacreBLEU's
    step-by-step INFO logging held back."""
    sacre_log = logging.getLogger("sacrebleu")
    with _SEED_LOCK:
        old, level = os.environ.get("SACREBLEU_SEED"), sacre_log.level
        os.environ["SACREBLEU_SEED"] = "None" if seed is None else str(seed)
        sacre_log.setLevel(max(level, logging.WARNING))
        try:
            yield
        finally:
            sacre_log.setLevel(level)
            if old is None:
                os.environ.pop("SACREBLEU_SEED", None)
            else:
                os.environ["SACREBLEU_SEED"] = old


def confidence_intervals(hyps: Sequence[str], refs: Sequence[Sequence[str]],
                         samples: int = BOOTSTRAP_SAMPLES, seed: int | None = SEED) -> dict:
    """{metric: {"score", "mean", "ci" (95% half-width), "signature"}} for BLEU, chrF and TER,
    equal to sacreBLEU's `--confidence` with `--confidence-n samples`."""
    check_references(refs, len(hyps))
    if samples < 2:
        raise ValueError("a bootstrap interval needs at least two resamples")
    out = {}
    with sacrebleu_seed(seed):
        for key, metric in _metrics().items():
            result = _corpus_score(metric, list(hyps), [list(r) for r in refs], samples)
            out[key] = {"score": float(result.score), "mean": float(result._mean),
                        "ci": float(result._ci), "signature": str(metric.get_signature())}
    return out


def _corpus_score(metric, hyps: list[str], refs: list[list[str]], samples: int):
    """`metric.corpus_score(..., n_bootstrap=samples)`; where sacreBLEU 2.x fails to average
    its resamples (a resample scoring a plain 0.0 among numpy floats makes its
    `statistics.mean` raise TypeError: tiny or very poor systems), the same resamples (its
    seed, drawn again) averaged as floats, so the interval is the one it meant to print."""
    try:
        return metric.corpus_score(hyps, refs, n_bootstrap=samples)
    except TypeError:
        from sacrebleu.significance import _bootstrap_resample

        stats = metric._extract_corpus_statistics(hyps, refs)
        result = metric._aggregate_and_compute(stats)
        _, resampled = _bootstrap_resample(stats, metric, samples)
        scores = sorted(float(x.score) for x in resampled)
        low = len(scores) // 40
        result._ci = 0.5 * (scores[len(scores) - low - 1] - scores[low])
        result._mean = statistics.mean(scores)
        return result


def paired_test(systems: Sequence[Sequence[str]], refs: Sequence[Sequence[str]],
                test: str = "bs", samples: int = 0, seed: int | None = SEED) -> list[dict]:
    """systems[1:] against systems[0] by sacreBLEU's paired bootstrap ("bs") or paired
    approximate randomization ("ar"); `samples` 0 takes sacreBLEU's default (1,000 resamples,
    10,000 trials).

    Returns one dict per system: {metric: {"score", "mean", "ci", "p_value" (None for the
    baseline), "difference" ({"mean", "low", "high"} of system - baseline; None for the
    baseline)}, "signatures": {metric: str}}. Identical outputs, and a system scoring exactly
    the baseline's score, get p = 1 (sacreBLEU's count gives 1/(samples+1) there, which reads
    as significant).
    """
    from sacrebleu.significance import PairedTest

    if test not in ("bs", "ar"):
        raise ValueError(f"test must be 'bs' or 'ar', got {test!r}")
    if len(systems) < 2:
        raise ValueError("a paired test needs a baseline and at least one other system")
    for hyps in systems:
        check_references(refs, len(hyps))
    metrics = _metrics()
    streams = [list(r) for r in refs]
    named = [(f"system{i}", list(h)) for i, h in enumerate(systems)]
    with sacrebleu_seed(seed):
        # AR's intervals by bootstrap too (sacreBLEU's library offers it; its command line
        # prints AR without them)
        paired = PairedTest(named, metrics, references=streams, test_type=test,
                            n_samples=samples,
                            n_ar_confidence=BOOTSTRAP_SAMPLES if test == "ar" else -1)
        signatures, table = paired()
    names = [k for k in table if k != "System"]  # "BLEU", "chrF2", "TER", in metrics' order
    by_key = dict(zip(METRICS, names))
    differences = _difference_intervals(systems, streams, metrics, seed)
    out = []
    for i, hyps in enumerate(systems):
        row: dict[str, Any] = {}
        for key, name in by_key.items():
            cell = table[name][i]
            tied = list(hyps) == list(systems[0]) or cell.score == table[name][0].score
            p = None if i == 0 else (1.0 if tied else float(cell.p_value))
            row[key] = {"score": float(cell.score), "mean": _float(cell.mean),
                        "ci": _float(cell.ci), "p_value": p,
                        "difference": None if i == 0 else differences[key][i - 1]}
        row["signatures"] = {k: str(signatures[n]) for k, n in by_key.items()}
        out.append(row)
    return out


def _float(value) -> float | None:
    return None if value is None else float(value)


def _difference_intervals(systems, streams, metrics, seed, samples: int = BOOTSTRAP_SAMPLES):
    """{metric: [{"mean", "low", "high"} per system after the baseline]}: system - baseline
    over paired bootstrap resamples (the same segment draws for both), with sacreBLEU's
    percentile rule for the 95% interval."""
    n = len(systems[0])
    idxs = np.random.default_rng(seed).choice(n, size=(samples, n), replace=True)
    out: dict[str, list[dict]] = {}
    for key, metric in metrics.items():
        scores = [_resampled_scores(metric, hyps, streams, idxs) for hyps in systems]
        out[key] = [_interval(s - scores[0]) for s in scores[1:]]
    return out


def _resampled_scores(metric, hyps, streams, idxs) -> np.ndarray:
    stats = np.array(metric._extract_corpus_statistics(list(hyps), streams), dtype="float32")
    return np.array([metric._compute_score_from_stats(stats[i].sum(0)).score for i in idxs])


def _interval(values: np.ndarray) -> dict:
    ordered = np.sort(values)
    k = len(ordered) // 40  # 2.5% from each end, as sacreBLEU's estimate_ci
    return {"mean": float(ordered.mean()), "low": float(ordered[k]),
            "high": float(ordered[len(ordered) - k - 1])}
