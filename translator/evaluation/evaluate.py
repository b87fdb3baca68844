"""Checkpoint evaluation (sacreBLEU BLEU, chrF, TER with paired bootstrap resampling) and
checkpoint selection for averaging: the library behind the `translator evaluate` and
`translator average` subcommands (their argument parsing lives in `translator.cli.evaluate`).

Scores come from sacreBLEU's metric objects with their default settings, so a number printed
here equals the `sacrebleu` command's on the same hypothesis and reference files. Significance is
sacreBLEU's own paired bootstrap resampling (`sacrebleu.significance.PairedTest`, the code path of
`sacrebleu --paired-bs`): every later checkpoint is compared with the first one, the baseline.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from translator.checkpoint import CheckpointError, load_checkpoint, periodic_step
from translator.checkpoint_file import spec_members
from translator.data.corpus import CorpusError, read_lines
from translator.defaults import BATCH_TOKENS, BEAM_SIZE, TEST_SPLIT
from translator.errors import UserError
from translator.evaluation.analysis import training_target
from translator.evaluation.metrics import (
    ALPHA,
    LABELS,
    METRICS,
    _check_pair,
    paired_bootstrap,
    score,
    score_streams,
)
from translator.evaluation.sentences import segment_scores
from translator.evaluation.significance import AR_TRIALS, check_references, paired_test

__all__ = ["ALPHA", "LABELS", "METRICS", "evaluate_checkpoints", "paired_bootstrap", "score"]

log = logging.getLogger(__name__)

DEFAULT_SPLIT = TEST_SPLIT


def evaluate_checkpoints(checkpoints: list[str], src: list[str], refs: list[str],
                         beam_size: int = BEAM_SIZE, batch_tokens: int = BATCH_TOKENS,
                         threads: int | None = None, bootstrap: int = 1000,
                         seed: int | None = 12345) -> list[dict]:
    """Translate `src` with each checkpoint and score it against `refs` (one reference per
    segment): `translate_checkpoints`, then `score_systems` with the checkpoints' paths as
    the systems' names. Each result also has "checkpoint" (the path as given)."""
    if not checkpoints:
        raise CheckpointError("no checkpoints to evaluate")
    _check_pair(src, refs, what="source segments")
    translated = translate_checkpoints(checkpoints, src, beam_size, batch_tokens, threads)
    results = score_systems([str(c) for c in checkpoints], [h for h, _ in translated], [refs],
                            bootstrap, seed, confidences=[c for _, c in translated])
    return [{"checkpoint": str(c), **r} for c, r in zip(checkpoints, results)]


def translate_checkpoints(checkpoints: Sequence[str | Path], src: list[str],
                          beam_size: int = BEAM_SIZE, batch_tokens: int = BATCH_TOKENS,
                          threads: int | None = None,
                          direction: tuple[str, str] | None = None
                          ) -> list[tuple[list[str], list[float]]]:
    """Each checkpoint's translation of `src` and the model's confidence in each segment
    (0..1; a checkpoint named twice is translated once). A checkpoint may be an ensemble,
    `a.pt+b.pt`: one system. `direction` (source, target) is the one a multilingual
    checkpoint translates (required for one)."""
    from translator.inference.translator import Translator

    def same(path) -> tuple[Path, ...]:
        return tuple(Path(m).resolve() for m in spec_members(path))

    done: dict[tuple[Path, ...], tuple[list[str], list[float]]] = {}
    for path in checkpoints:
        key = same(path)
        if key not in done:
            translator = Translator.from_checkpoint(path, threads=threads)
            if translator.multilingual:
                translator = translator.for_options(*(direction or (None, None)))
            log.info("translating %d segments with %s (beam %d)", len(src), path, beam_size)
            scored = translator.translate_scored(src, beam_size=beam_size,
                                                 batch_tokens=batch_tokens)
            done[key] = ([s.text for s in scored], [s.confidence for s in scored])
            del translator
    return [done[same(path)] for path in checkpoints]


def score_systems(names: Sequence[str], systems: Sequence[Sequence[str]],
                  refs: Sequence[Sequence[str]], bootstrap: int = 1000,
                  seed: int | None = 12345, test: str = "bs",
                  confidences: Sequence[Sequence[float] | None] | None = None) -> list[dict]:
    """Score each system's hypotheses against the reference streams `refs` (one or several
    references per segment, as sacreBLEU takes them).

    With more than one system and `bootstrap` > 0, each later system is compared with the first
    (the baseline) by sacreBLEU's paired test (`test` "bs": bootstrap with `bootstrap`
    resamples; "ar": approximate randomization with sacreBLEU's 10,000 trials). One dict per
    system, in order: "system" (its name), "bleu", "chrf", "ter", "signatures", "hypotheses",
    "p_values" ({metric: p} or None for the baseline / no test), "significant" ({metric: p <
    0.05} or None), "difference" ({metric: {"mean", "low", "high"}} of system - baseline, or
    None), "bootstrap" (None, or {"samples", "seed", "test", "baseline", "ci",
    "signatures"}), "segments" (per segment: sentence "chrf" and "bleu", and "confidence"
    where the system has one) and "confidence" (None, or the Pearson and Spearman correlation
    of the model's confidence with sentence chrF: {"pearson", "spearman", "segments"}).
    `confidences`: per system, the model's confidence in each segment, or None (a hypothesis
    file has none).
    """
    check_references(refs)
    for name, hyps in zip(names, systems):
        if len(hyps) != len(refs[0]):
            raise CorpusError(f"{name}: {len(hyps)} lines where {len(refs[0])} are expected "
                              f"(one per reference line)")
    confidences = list(confidences or [None] * len(systems))
    results = [{"system": name, **score_streams(list(hyps), refs), "hypotheses": list(hyps),
                "p_values": None, "significant": None, "difference": None, "bootstrap": None,
                **segment_scores(hyps, refs, conf)}
               for name, hyps, conf in zip(names, systems, confidences)]
    if len(results) > 1 and bootstrap > 0:
        log.info("paired %s test against %s", test, names[0])
        tests = paired_test(systems, refs, test=test,
                            samples=bootstrap if test == "bs" else 0, seed=seed)
        for result, row in zip(results, tests):
            if row[METRICS[0]]["p_value"] is not None:
                result["p_values"] = {k: row[k]["p_value"] for k in METRICS}
                result["significant"] = {k: p < ALPHA for k, p in result["p_values"].items()}
                result["difference"] = {k: row[k]["difference"] for k in METRICS}
            result["bootstrap"] = {"samples": bootstrap if test == "bs" else AR_TRIALS,
                                   "seed": seed, "test": test, "baseline": str(names[0]),
                                   "ci": {k: [row[k]["mean"], row[k]["ci"]] for k in METRICS},
                                   "signatures": row["signatures"]}
    return results


def format_table(results: list[dict]) -> str:
    """An aligned text table of the results, then the metric signatures."""
    tested = any(r.get("p_values") for r in results)
    header = ["checkpoint" if all("checkpoint" in r for r in results) else "system",
              "BLEU", "chrF", "TER"]
    if tested:
        header += [f"p({LABELS[k]})" for k in METRICS]
    rows = []
    for r in results:
        row = [r.get("system") or r["checkpoint"]] + [f"{r[k]:.2f}" for k in METRICS]
        if tested:
            if r.get("p_values"):
                row += [f"{r['p_values'][k]:.4f}" + ("*" if r["significant"][k] else " ")
                        for k in METRICS]
            else:
                row += ["baseline " if i == 0 else "- " for i in range(len(METRICS))]
        rows.append(row)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0])] +
                         [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    if tested:
        bs = next(r["bootstrap"] for r in results if r.get("bootstrap"))
        kind = ("approximate randomization, {} trials" if bs.get("test") == "ar"
                else "bootstrap resampling, {} samples").format(bs["samples"])
        out.append(f"* p < {ALPHA}: differs from the first system (paired {kind}, "
                   f"seed {bs['seed']})")
    out.append("")
    seen: list[dict] = []
    for r in results:
        if r["signatures"] not in seen:
            seen.append(r["signatures"])
    for sigs in seen:
        for k in METRICS:
            out.append(f"{LABELS[k]:<5} {sigs[k]}")
    return "\n".join(out)


def analysis_frequencies(refs: Sequence[Sequence[str]], train_target: str | Path | None = None,
                         checkpoint: str | Path | None = None, tgt: str | None = None
                         ) -> tuple[list[str], dict]:
    """The lines whose word frequencies `--analysis` buckets words by, and where they came
    from: the file `train_target` when given; else the training targets `checkpoint` (the
    first evaluated) records (its `corpus` entry, translator/data/corpus_record.py) while its
    files are unchanged; else the references. The dict: {"from": "training target" or "the
    references", "file": the file read or None, "reason": why these}."""
    if train_target:
        return read_lines(train_target), {"from": "training target", "file": str(train_target),
                                          "reason": "--train-target"}
    reason = "no --train-target and no checkpoint evaluated"
    if checkpoint is not None:
        first = spec_members(checkpoint)[0]  # an ensemble's: its first member's
        lines, said = training_target(load_checkpoint(first).get("corpus"), tgt)
        if lines is not None:
            return lines, {"from": "training target", "file": said,
                           "reason": f"the corpus {checkpoint} was trained on, unchanged"}
        reason = said
    return [r for stream in refs for r in stream], {"from": "the references", "file": None,
                                                    "reason": reason}


def frequency_line(frequencies: dict) -> str:
    """`analysis_frequencies`' choice in a line: "frequencies: training target (FILE)" or
    "frequencies: the references (REASON)"."""
    return f"frequencies: {frequencies['from']} ({frequencies['file'] or frequencies['reason']})"


# ----------------------------------------------------------------------------- files
def hypothesis_file_names(checkpoints: Sequence[str | Path]) -> list[str]:
    """One distinct, filesystem-safe file name per checkpoint: `{parent-dir}.{stem}.hyp`
    (an ensemble's joins its members' with `+`)."""
    names: list[str] = []
    for spec in checkpoints:
        base = "+".join(".".join(x for x in (p.parent.name, p.stem) if x)
                        for p in (Path(m).resolve() for m in spec_members(spec)))
        base = re.sub(r"[^A-Za-z0-9_.+-]+", "_", base).strip(".") or "checkpoint"
        name, n = f"{base}.hyp", 2
        while name in names:
            name, n = f"{base}.{n}.hyp", n + 1
        names.append(name)
    return names


def hypotheses_directory(path: str | Path) -> Path:
    """The directory hypothesis files go to, made if missing; UserError where it cannot be
    (a file of that name, no permission)."""
    out_dir = Path(path)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write hypotheses to {out_dir}: "
                        f"{exc.strerror or exc} (it must be a directory)") from None
    return out_dir


def save_hypotheses(out_dir: str | Path, checkpoints: Sequence[str | Path],
                    results: list[dict], prefix: str = "") -> None:
    """Each checkpoint's translations (a line per segment) in `out_dir`, named by
    `hypothesis_file_names` after `prefix` (a direction's `de-en.`); each result gets its
    "hypotheses_file"."""
    out_dir = hypotheses_directory(out_dir)
    for result, name in zip(results, hypothesis_file_names(checkpoints)):
        path = out_dir / f"{prefix}{name}"
        path.write_text("".join(h.replace("\n", " ") + "\n" for h in result["hypotheses"]),
                        encoding="utf-8")
        result["hypotheses_file"] = str(path)
        log.info("wrote %s", path)


def periodic_checkpoints(run_dir: str | Path) -> list[Path]:
    """The periodic checkpoints `step*.pt` in `run_dir` (`periodic_name`), in step order."""
    found = []
    for path in Path(run_dir).glob("step*.pt"):
        step = periodic_step(path.name)
        if step is not None and path.is_file():
            found.append((step, path))
    return [p for _, p in sorted(found)]


def select_last_checkpoints(run_dir: str | Path, n: int) -> list[Path]:
    """The last `n` periodic checkpoints of a run directory, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory not found: {run_dir}")
    found = periodic_checkpoints(run_dir)
    if len(found) < n:
        have = ", ".join(p.name for p in found) or "none"
        raise CheckpointError(f"{run_dir} has {len(found)} periodic checkpoints (step*.pt: "
                              f"{have}); --last {n} needs {n}")
    return found[-n:]
