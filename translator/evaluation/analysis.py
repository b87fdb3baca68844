"""Analysis of systems on one test set, like compare-mt's, with bucket edges fixed across
systems so their rows line up:

- `by_source_length`: corpus BLEU and chrF of each system on the segments whose source has
  1-9, 10-19, ... words;
- `by_length_ratio`: the share of each system's segments whose output/reference length ratio
  falls in each bucket (too short, about right, too long);
- `word_f_by_frequency`: word precision, recall and F-measure of each system by how often the
  target word occurs in the training data (or, without it, in the references: the caller says
  which); `training_target` reads a checkpoint's training targets back from its `corpus`
  record (translator/data/corpus_record.py) while the recorded files are unchanged;
- `ngram_differences`: the n-grams one system gets right more often than the other. "Right"
  means: the n-gram is in the system's output and in the reference of the same segment,
  counted at most as often as the reference has it (BLEU's clipped count).

Words are sacreBLEU's 13a tokens (BLEU's default tokenisation), case kept. References are
streams as sacreBLEU takes them; the word and n-gram analyses use the first reference. No torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from translator.data.corpus import CorpusError, read_lines
from translator.data.corpus_record import file_sha256
from translator.evaluation.significance import check_references

LENGTH_EDGES = (10, 20, 30, 40)  # source words: [1, 10), [10, 20), ... [40, inf)
RATIO_EDGES = (0.9, 1.1)  # output/reference words: < 0.9, [0.9, 1.1), >= 1.1
FREQUENCY_EDGES = (1, 2, 5, 10, 100, 1000)  # occurrences: 0, 1, [2, 5), ... >= 1000


def tokens(text: str) -> list[str]:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()(text).split()


def bucket_labels(edges: Sequence[float], low: float | None = None, unit: str = "") -> list[str]:
    """Readable labels of the buckets [low, e0), [e0, e1), ..., [e_last, inf): `< 10` (no
    `low`), `10-19`, ..., `>= 40` for integers; `0.9-1.1` for fractions."""
    def span(a: float, b: float) -> str:
        if isinstance(a, int) and isinstance(b, int):
            return str(a) if b - a == 1 else f"{a}-{b - 1}"
        return f"{a}-{b}"

    first = f"< {edges[0]}" if low is None else span(low, edges[0])
    middle = [span(a, b) for a, b in zip(edges, edges[1:])]
    return [label + unit for label in (first, *middle, f">= {edges[-1]}")]


def bucket_of(value: float, edges: Sequence[float]) -> int:
    return sum(value >= edge for edge in edges)


def by_source_length(src: Sequence[str], refs: Sequence[Sequence[str]],
                     systems: Sequence[Sequence[str]],
                     edges: Sequence[int] = LENGTH_EDGES) -> dict:
    """{"buckets": labels, "segments": count per bucket, "bleu"/"chrf": [per system: score
    per bucket, None where a bucket is empty]}."""
    from sacrebleu.metrics import BLEU, CHRF

    check_references(refs, len(src))
    groups: list[list[int]] = [[] for _ in range(len(edges) + 1)]
    for i, line in enumerate(src):
        groups[bucket_of(len(tokens(line)), edges)].append(i)
    out: dict = {"buckets": bucket_labels(edges, unit=" words"),
                 "segments": [len(g) for g in groups], "bleu": [], "chrf": []}
    for hyps in systems:
        check_references(refs, len(hyps))
        for key, metric in (("bleu", BLEU()), ("chrf", CHRF())):
            out[key].append([
                float(metric.corpus_score([hyps[i] for i in g],
                                          [[stream[i] for i in g] for stream in refs]).score)
                if g else None for g in groups])
    return out


def by_length_ratio(refs: Sequence[Sequence[str]], systems: Sequence[Sequence[str]],
                    edges: Sequence[float] = RATIO_EDGES) -> dict:
    """{"buckets": labels, "share": [per system: fraction of its segments per bucket]} of the
    output/reference length ratio in words (an empty reference counts as one word)."""
    out: dict = {"buckets": bucket_labels(edges), "share": []}
    ref_lengths = [max(1, len(tokens(r))) for r in refs[0]]
    for hyps in systems:
        check_references(refs, len(hyps))
        counts = Counter(bucket_of(len(tokens(h)) / n, edges) for h, n in zip(hyps, ref_lengths))
        out["share"].append([counts[b] / len(hyps) for b in range(len(edges) + 1)])
    return out


def word_frequencies(lines: Iterable[str]) -> Counter:
    """How often each 13a token occurs in `lines` (the training targets, say)."""
    counts: Counter = Counter()
    for line in lines:
        counts.update(tokens(line))
    return counts


NO_RECORD = "checkpoint records no corpus (trained before 0.3.0)"


def training_target(record: dict | None, tgt: str | None = None
                    ) -> tuple[list[str] | None, str]:
    """The target side of the training corpus a checkpoint's `corpus` entry records, read
    again: (lines, the file's path) while every recorded file is there with its recorded
    SHA-256; else (None, a one-line reason: `NO_RECORD`, "data directory not found: DIR",
    "train.en.gz not found in DIR", "train.en.gz changed since training", ...). `tgt`: the
    target language evaluated (a multilingual model's record has several)."""
    if record is None:
        return None, NO_RECORD
    try:
        data, files = Path(record["data"]), dict(record["files"])
        tgt = str(tgt or record["tgt"])
    except (TypeError, KeyError, ValueError):
        return None, "the checkpoint's corpus record is malformed"
    if any(not isinstance(n, str) or n != Path(n).name or n in ("", ".", "..") for n in files):
        return None, "the checkpoint's corpus record is malformed"  # names only, no paths
    target = next((n for n in files if n in (f"train.{tgt}", f"train.{tgt}.gz")), None)
    if target is None:
        return None, f"the checkpoint's corpus record names no train file for '{tgt}'"
    if not data.is_dir():
        return None, f"data directory not found: {data}"
    for name, digest in files.items():
        path = data / name
        try:
            if not path.is_file():
                return None, f"{name} not found in {data}"
            if file_sha256(path) != digest:
                return None, f"{name} changed since training"
        except OSError as exc:
            return None, f"cannot read {path}: {exc.strerror}"
    try:
        return read_lines(data / target), str(data / target)
    except CorpusError as exc:
        return None, str(exc)


def word_f_by_frequency(refs: Sequence[Sequence[str]], systems: Sequence[Sequence[str]],
                        frequency: Counter,
                        edges: Sequence[int] = FREQUENCY_EDGES) -> dict:
    """{"buckets": labels, "reference_words": count per bucket, "precision"/"recall"/"f":
    [per system: value per bucket, None where undefined]}: a word of a bucket is right where
    output and reference of the same segment both have it (clipped)."""
    n = len(edges) + 1
    out: dict = {"buckets": bucket_labels(edges, low=0),
                 "reference_words": [0] * n, "precision": [], "recall": [], "f": []}
    ref_words = [Counter(tokens(r)) for r in refs[0]]
    for counts in ref_words:
        for word, c in counts.items():
            out["reference_words"][bucket_of(frequency[word], edges)] += c
    for hyps in systems:
        check_references(refs, len(hyps))
        matched, produced = [0] * n, [0] * n
        for hyp, ref in zip(hyps, ref_words):
            for word, c in Counter(tokens(hyp)).items():
                b = bucket_of(frequency[word], edges)
                produced[b] += c
                matched[b] += min(c, ref[word])
        p = [m / h if h else None for m, h in zip(matched, produced)]
        r = [m / w if w else None for m, w in zip(matched, out["reference_words"])]
        out["precision"].append(p)
        out["recall"].append(r)
        out["f"].append([None if a is None or b is None else
                         (2 * a * b / (a + b) if a + b else 0.0) for a, b in zip(p, r)])
    return out


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def right_ngrams(hyps: Sequence[str], refs: Sequence[str], n: int) -> Counter:
    """How often each n-gram is right over the set: in the output and in the same segment's
    reference, clipped to the reference's count."""
    right: Counter = Counter()
    for hyp, ref in zip(hyps, refs):
        ref_counts = _ngrams(tokens(ref), n)
        for gram, c in _ngrams(tokens(hyp), n).items():
            if gram in ref_counts:
                right[gram] += min(c, ref_counts[gram])
    return right


def ngram_differences(refs: Sequence[Sequence[str]], system_a: Sequence[str],
                      system_b: Sequence[str], orders: Sequence[int] = (1, 2, 3, 4),
                      top: int = 20) -> dict:
    """{"a": [...], "b": [...]}: the `top` n-grams (of the given orders) that A gets right more
    often than B and the reverse, each {"ngram", "a", "b"} with both counts, largest margin
    first (ties: the more frequent, then alphabetical)."""
    check_references(refs, len(system_a))
    check_references(refs, len(system_b))
    margins = []
    for n in orders:
        right_a, right_b = right_ngrams(system_a, refs[0], n), right_ngrams(system_b, refs[0], n)
        for gram in right_a.keys() | right_b.keys():
            margins.append((" ".join(gram), right_a[gram], right_b[gram]))

    def ranked(sign: int) -> list[dict]:
        rows = [m for m in margins if sign * (m[1] - m[2]) > 0]
        rows.sort(key=lambda m: (-sign * (m[1] - m[2]), -(m[1] + m[2]), m[0]))
        return [{"ngram": g, "a": a, "b": b} for g, a, b in rows[:top]]

    return {"a": ranked(1), "b": ranked(-1)}
