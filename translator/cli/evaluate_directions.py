"""`translator evaluate --all-directions`: multilingual checkpoints scored in every direction
they translate on a split of a multi-way corpus, one table (a row per direction and system,
each later system tested against the first within its direction), or one JSON document."""

from __future__ import annotations

import argparse
import json
import sys

from translator.checkpoint_file import spec_directions
from translator.data.corpus import CorpusError, read_split
from translator.errors import UserError
from translator.evaluation.evaluate import (
    DEFAULT_SPLIT,
    METRICS,
    save_hypotheses,
    score_systems,
    translate_checkpoints,
)
from translator.evaluation.export import to_csv


def checkpoint_directions(specs: list[str]) -> list[str]:
    """The directions the first of the (multilingual) model specs translates, which every
    other must translate too (read without loading the models)."""
    found = [(spec, spec_directions(spec)) for spec in specs]
    for spec, directions in found:
        if not directions:
            raise UserError(f"--all-directions is for multilingual checkpoints; {spec} "
                            f"translates one pair (evaluate it with --src and --tgt)")
        missing = [d for d in found[0][1] if d not in directions]
        if missing:
            raise UserError(f"{spec} does not translate {', '.join(missing)}, which "
                            f"{specs[0]} does: --all-directions compares models of the same "
                            f"directions")
    return found[0][1]


def evaluate_directions(args: argparse.Namespace) -> int:
    if args.data is None or not args.checkpoint or args.hyp or args.src or args.tgt \
            or args.direction:
        raise UserError("--all-directions takes --data DIR and --checkpoint CKPT [...] (no "
                        "--src, --tgt, --direction or --hyp: every direction is scored)")
    unsupported = [flag for flag, given in (("--analysis", args.analysis),
                                            ("--train-target", args.train_target),
                                            ("--format latex", args.format == "latex"))
                   if given]
    if unsupported:
        raise UserError(f"{', '.join(unsupported)} scores one direction: use --direction S-T "
                        f"(or --data DIR --src L --tgt L) instead of --all-directions")
    split = args.split or DEFAULT_SPLIT
    directions = checkpoint_directions([str(c) for c in args.checkpoint])
    names = [str(c) for c in args.checkpoint]
    scores: dict[str, list[dict]] = {}
    for direction in directions:
        src, tgt = direction.split("-", 1)
        try:
            corpus = read_split(args.data, split, src, tgt)
        except CorpusError as exc:
            print(f"{direction}: skipped ({exc})", file=sys.stderr)
            continue
        translated = translate_checkpoints(args.checkpoint, corpus.src, args.beam,
                                           args.batch_tokens, args.threads, (src, tgt))
        scores[direction] = score_systems(names, [h for h, _ in translated], [corpus.tgt],
                                          bootstrap=args.bootstrap, seed=args.seed,
                                          test="ar" if args.paired_ar else "bs",
                                          confidences=[c for _, c in translated])
        if args.save_hyps:
            save_hypotheses(args.save_hyps, args.checkpoint, scores[direction],
                            prefix=f"{direction}.")
    if not scores:
        raise UserError(f"{args.data} has the split {split} in none of the directions")
    if args.json or args.format == "json":
        print(json.dumps({"data": str(args.data), "split": split, "beam": args.beam,
                          "directions": {d: [_brief(r) for r in results]
                                         for d, results in scores.items()}}, indent=2))
    elif args.format == "csv":
        print(direction_csv(scores), end="")
    else:
        print(direction_table(scores))
    return 0


def direction_csv(scores: dict[str, list[dict]]) -> str:
    """evaluate's CSV (translator/evaluation/export.py) with a first column, the direction."""
    rows = [(direction, r) for direction, results in scores.items() for r in results]
    return to_csv([r for _, r in rows], lead=("direction", [d for d, _ in rows]))


def _brief(result: dict) -> dict:
    keys = ("system", *METRICS, "p_values", "difference", "bootstrap", "signatures",
            "hypotheses_file")
    return {k: result[k] for k in keys if k in result}


def direction_table(scores: dict[str, list[dict]]) -> str:
    """Rows of direction, system, BLEU, chrF, TER (and p of BLEU against the first system),
    then each system's mean over the directions."""
    names = [r["system"] for r in next(iter(scores.values()))]
    header = ["direction", "system", "BLEU", "chrF", "TER", "p(BLEU)"]
    rows = []
    for direction, results in scores.items():
        for i, r in enumerate(results):
            p = r["p_values"]["bleu"] if r.get("p_values") else None
            rows.append([direction, r["system"], *(f"{r[k]:.2f}" for k in METRICS),
                         "" if i == 0 else ("-" if p is None else f"{p:.4f}")])
    for i, name in enumerate(names):
        rows.append(["mean", name, *(f"{sum(rs[i][k] for rs in scores.values()) / len(scores):.2f}"
                                     for k in METRICS), ""])
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if c < 2 else cell.rjust(w)
                       for c, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n\nBLEU  {next(iter(scores.values()))[0]['signatures']['bleu']}"
