"""Corpus metrics with sacreBLEU (BLEU, chrF, TER with signatures; BLEU alone for validation)
and sacreBLEU's paired bootstrap resampling. No torch: the web front end uses this module for
leaderboards.

Scores come from sacreBLEU's metric objects with their default settings, so a number printed
here equals the `sacrebleu` command's on the same hypothesis and reference files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from translator.data.corpus import CorpusError

METRICS = ("bleu", "chrf", "ter")
LABELS = {"bleu": "BLEU", "chrf": "chrF", "ter": "TER"}
ALPHA = 0.05  # significance level for the paired test


def _new_metrics() -> dict[str, Any]:
    from sacrebleu.metrics import BLEU, CHRF, TER

    return {"bleu": BLEU(), "chrf": CHRF(), "ter": TER()}


def _check_pair(hyps: Sequence[str], refs: Sequence[str], what: str = "hypotheses") -> None:
    if len(hyps) != len(refs):
        raise CorpusError(
            f"{what} and references differ in length: {len(hyps)} {what}, {len(refs)} references"
        )
    if not refs:
        raise CorpusError("nothing to score: there are no references")


def score(hyps: list[str], refs: list[str]) -> dict:
    """Corpus BLEU, chrF and TER of `hyps` against one reference per segment.

    Returns {"bleu", "chrf", "ter": float, "signatures": {"bleu", "chrf", "ter": str}}; raises
    CorpusError when the lists differ in length or are empty.
    """
    _check_pair(hyps, refs)
    return score_streams(hyps, [refs])


def score_streams(hyps: Sequence[str], refs: Sequence[Sequence[str]]) -> dict:
    """`score` against one reference stream or several (`[refs_a, refs_b]`: two references
    per segment, as sacreBLEU takes them); the caller checks the lengths."""
    out: dict[str, Any] = {}
    signatures = {}
    for key, metric in _new_metrics().items():
        out[key] = float(metric.corpus_score(list(hyps), [list(r) for r in refs]).score)
        signatures[key] = str(metric.get_signature())
    out["signatures"] = signatures
    return out


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU alone of `hyps` against one reference per segment, with sacreBLEU's default
    settings (those of `score`). For validation during training, which must not spend its time
    on chrF and TER: use `score` for the full report."""
    from sacrebleu.metrics import BLEU

    return float(BLEU().corpus_score(list(hyps), [list(refs)]).score)


def paired_bootstrap(systems: list[list[str]], refs: list[str], samples: int = 1000,
                     seed: int | None = 12345) -> list[dict]:
    """sacreBLEU's paired bootstrap resampling of systems[1:] against systems[0].

    Returns one dict per system: {"p_values": {metric: p} (None for the baseline),
    "ci": {metric: [bootstrap mean, 95% half-width]}, "signatures": {metric: str}}.
    A seed of None (or 0, which sacreBLEU treats as unset) draws fresh randomness.
    """
    from sacrebleu.significance import PairedTest

    from translator.evaluation.significance import sacrebleu_seed

    if samples < 1:
        raise ValueError("the paired bootstrap needs at least one sample")
    for hyps in systems:
        _check_pair(hyps, refs)
    named = [(f"system{i}", list(h)) for i, h in enumerate(systems)]
    with sacrebleu_seed(seed):  # the one lock on $SACREBLEU_SEED, shared with significance.py
        test = PairedTest(named, _new_metrics(), references=[list(refs)], test_type="bs",
                          n_samples=samples)
        signatures, table = test()
    # PairedTest keys its table by the metric's display name ("BLEU", "chrF2", "TER"), in the
    # order of the metrics it was given.
    names = [k for k in table if k != "System"]
    if len(names) != len(METRICS):
        raise RuntimeError(f"unexpected sacreBLEU paired-test columns: {names}")
    by_key = dict(zip(METRICS, names))
    out = []
    for i, hyps in enumerate(systems):
        p_values = None
        if i > 0:
            p_values = {k: float(table[n][i].p_value) for k, n in by_key.items()}
            if hyps == systems[0]:
                # Identical outputs differ by exactly nothing, but sacreBLEU's count
                # (resampled differences strictly above the observed one, plus one) gives
                # 1/(samples+1) there, i.e. "significant". Report the honest p-value.
                p_values = dict.fromkeys(METRICS, 1.0)
        ci = {k: [float(table[n][i].mean), float(table[n][i].ci)] for k, n in by_key.items()}
        out.append({"p_values": p_values, "ci": ci,
                    "signatures": {k: str(signatures[n]) for k, n in by_key.items()}})
    return out
