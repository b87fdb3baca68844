"""A comparison of systems on one test set, as the evaluation queue computes it once and the
workbench's pages then read it: sacreBLEU's paired test of every system against the first (the
baseline) with each difference's interval, and compare-mt's analyses with bucket edges fixed
across the systems. Per-segment scores are the evaluations' own (`sentences.sentence_scores`);
`word_differences` marks, for one segment, the words one output has that the other lacks.
No torch.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from translator.evaluation import analysis
from translator.evaluation.significance import paired_test

RIGHT_MEANS = ("an n-gram is right where it is in the output and in the same segment's first "
               "reference, counted at most as often as the reference has it (BLEU's clipped "
               "count)")


def compare(names: Sequence[str], systems: Sequence[Sequence[str]],
            refs: Sequence[Sequence[str]], sources: Sequence[str] | None = None,
            frequency_lines: Sequence[str] | None = None, frequencies_from: str = "",
            test: str = "bs", detail: bool = True) -> dict:
    """The comparison document of `systems` (hypotheses, the first the baseline) against the
    reference streams `refs`:

    {"names": names, "test": "bs"|"ar", "segments": n, "rows": paired_test's rows (per system
    {metric: {"score", "mean", "ci", "p_value", "difference"}, "signatures"}), "seconds",
    and with `detail` "analysis": {"by_source_length" (when `sources` are given),
    "by_length_ratio", "word_f_by_frequency", "frequencies_from", "ngram_differences" (per
    system after the baseline: {"a": baseline's, "b": the system's}), "right_means"}}.

    Word frequencies come from `frequency_lines` (the training targets) when given, else from
    the references; `frequencies_from` says which, for the page.
    """
    start = time.perf_counter()
    out: dict = {"names": list(names), "test": test, "segments": len(refs[0]),
                 "rows": paired_test(systems, refs, test=test)}
    if detail:
        out["analysis"] = analyse(refs, systems, sources, frequency_lines, frequencies_from)
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def analyse(refs: Sequence[Sequence[str]], systems: Sequence[Sequence[str]],
            sources: Sequence[str] | None = None,
            frequency_lines: Sequence[str] | None = None, frequencies_from: str = "") -> dict:
    """compare-mt's analyses of every system and the n-gram differences of each against the
    first; word frequencies from `frequency_lines` when given, else from the references."""
    lines = frequency_lines if frequency_lines is not None else [r for s in refs for r in s]
    frequency = analysis.word_frequencies(lines)
    out = {"frequencies_from": frequencies_from or ("the training targets"
                                                    if frequency_lines is not None
                                                    else "the references"),
           "by_length_ratio": analysis.by_length_ratio(refs, systems),
           "word_f_by_frequency": analysis.word_f_by_frequency(refs, systems, frequency),
           "ngram_differences": [analysis.ngram_differences(refs, systems[0], hyps)
                                 for hyps in systems[1:]],
           "right_means": RIGHT_MEANS}
    if sources is not None:
        out["by_source_length"] = analysis.by_source_length(sources, refs, systems)
    return out


def word_differences(a: str, b: str, refs: Sequence[str]) -> tuple[list[dict], list[dict]]:
    """Each output's words (13a tokens) as [{"word", "only": bool, "in_reference": bool}]:
    "only" where this output has the word more often than the other (what it has that the
    other lacks, counted), "in_reference" where a reference of the segment has it (the
    difference is then confirmed by the reference)."""
    words_a, words_b = analysis.tokens(a), analysis.tokens(b)
    in_ref = set().union(*(analysis.tokens(r) for r in refs)) if refs else set()
    return _marked(words_a, Counter(words_b), in_ref), _marked(words_b, Counter(words_a), in_ref)


def _marked(words: list[str], other: Counter, in_ref: set[str]) -> list[dict]:
    seen: Counter = Counter()
    out = []
    for word in words:
        seen[word] += 1
        out.append({"word": word, "only": seen[word] > other[word],
                    "in_reference": word in in_ref})
    return out
