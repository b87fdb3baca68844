"""The `translator evaluate` and `translator average` subcommands: argument parsing, input
checks and output around the library functions of `translator.evaluation.evaluate` and
`translator.checkpoint`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from translator.checkpoint import average_checkpoints, periodic_step, save_checkpoint
from translator.checkpoint_file import spec_directions
from translator.data.corpus import CorpusError, read_lines, read_split
from translator.defaults import BATCH_TOKENS, BEAM_SIZE
from translator.errors import UserError
from translator.evaluation.evaluate import (
    DEFAULT_SPLIT,
    analysis_frequencies,
    format_table,
    frequency_line,
    hypotheses_directory,
    periodic_checkpoints,
    save_hypotheses,
    score_systems,
    select_last_checkpoints,
    translate_checkpoints,
)
from translator.evaluation.export import to_csv, to_latex


def _evaluation_data(args: argparse.Namespace) -> tuple[list[str] | None, list[list[str]], dict]:
    """Source (None when only hypothesis files are scored and no source is given) and the
    reference streams, from --data DIR --src L --tgt L or from --src FILE --ref FILE [--ref
    FILE ...]."""
    if args.data is not None:
        if args.ref:
            raise UserError("--ref cannot be combined with --data: the references are "
                            "DIR/SPLIT.TGT (use --src FILE --ref FILE without --data instead)")
        if not args.src or not args.tgt:
            raise UserError("with --data, give the language codes --src and --tgt "
                            "(e.g. --data DIR --src de --tgt en)")
        split = args.split or DEFAULT_SPLIT
        corpus = read_split(args.data, split, args.src, args.tgt)
        return corpus.src, [corpus.tgt], {"data": str(args.data), "split": split,
                                          "src_lang": args.src, "tgt_lang": args.tgt}
    if args.split is not None or args.tgt is not None:
        raise UserError("--split and --tgt need --data; without --data give "
                        "--src FILE --ref FILE")
    if not args.ref or (args.checkpoint and not args.src):
        raise UserError("give either --src FILE --ref FILE, or --data DIR --src LANG --tgt LANG "
                        "(--hyp files alone need only --ref)")
    refs = [read_lines(path) for path in args.ref]
    for path, stream in zip(args.ref[1:], refs[1:]):
        if len(stream) != len(refs[0]):
            raise CorpusError(f"line counts differ: {args.ref[0]} has {len(refs[0])} lines, "
                              f"{path} has {len(stream)}")
    src = read_lines(args.src) if args.src else None
    if src is not None and len(src) != len(refs[0]):
        raise CorpusError(f"line counts differ: {args.src} has {len(src)} lines, "
                          f"{args.ref[0]} has {len(refs[0])}")
    info = {"ref": [str(r) for r in args.ref]}
    return src, refs, ({"src": str(args.src), **info} if args.src else info)


def _hypothesis_files(paths: list[str], expected: int) -> list[list[str]]:
    """Each --hyp file's lines; refused (naming the file and both counts) unless it has one
    line per reference line."""
    systems = []
    for path in paths:
        lines = read_lines(path)
        if len(lines) != expected:
            raise CorpusError(f"{path} has {len(lines)} lines where {expected} are expected "
                              f"(one per reference line)")
        systems.append(lines)
    return systems


def _evaluate_run(args: argparse.Namespace) -> int:
    """--run RUN_DIR: every periodic checkpoint of the run scored (no paired test: the points
    of a curve), written to RUN_DIR/history.SPLIT.json and drawn beside the validation curve
    in RUN_DIR/history.SPLIT.png (a multilingual run's: history.SPLIT.S-T.*, one direction's)."""
    from translator.evaluation.plot import plot_history  # matplotlib: only when drawing

    if args.checkpoint or args.hyp:
        raise UserError("--run scores the run's periodic checkpoints: give no --checkpoint "
                        "or --hyp with it")
    run = Path(args.run)
    if not run.is_dir():
        raise UserError(f"run directory not found: {run}")
    checkpoints = periodic_checkpoints(run)
    if not checkpoints:
        raise UserError(f"{run} has no periodic checkpoints (step*.pt); train with "
                        "train.save_every (and train.keep_every to keep a longer history)")
    src, refs, source = _evaluation_data(argparse.Namespace(**{**vars(args), "checkpoint": True}))
    pair = _direction(args)
    multilingual = bool(spec_directions(checkpoints[0]))
    if multilingual and pair is None:
        raise UserError(f"{run} is a multilingual run: its history is one direction's (--data "
                        f"DIR --src L --tgt L, or --direction S-T with files)")
    translated = translate_checkpoints(checkpoints, src, args.beam, args.batch_tokens,
                                       args.threads, pair)
    results = score_systems([str(c) for c in checkpoints], [h for h, _ in translated], refs,
                            bootstrap=0, confidences=[c for _, c in translated])
    split = source.get("split", "test")
    points = [{"step": periodic_step(c.name), "checkpoint": str(c),
               **{k: r[k] for k in ("bleu", "chrf", "ter", "signatures")}}
              for c, r in zip(checkpoints, results)]
    document = {**source, "run": str(run), "segments": len(refs[0]), "beam": args.beam,
                "points": points}
    # a multilingual run's history is one direction's: named by it, each beside the others
    direction = "-".join(pair) if multilingual else None
    if direction:
        document["direction"] = direction
    name = f"history.{split}" + (f".{direction}" if direction else "")
    (run / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    plot_history(run / "metrics.jsonl", [(p["step"], p["bleu"]) for p in points],
                 f"{split} (beam {args.beam})", run / f"{name}.png", direction=direction)
    print(json.dumps(document, indent=2) if args.json else format_table(results))
    print(f"wrote {run / f'{name}.json'} and {run / f'{name}.png'}", file=sys.stderr)
    return 0


def _analysis(args: argparse.Namespace, src: list[str] | None, refs: list[list[str]],
              names: list[str], systems: list[list[str]], train_target: str | None,
              checkpoint: str | None = None) -> dict:
    """compare-mt's analyses (translator/evaluation/analysis.py) of every system, the n-gram
    differences of each against the first; word frequencies from the training targets
    (--train-target, else those the first checkpoint records while unchanged), else from the
    references: the document and a line on stderr say which, and why."""
    from translator.evaluation.comparison import analyse

    direction = _direction(args)
    lines, frequencies = analysis_frequencies(refs, train_target, checkpoint,
                                              direction[1] if direction else None)
    print(frequency_line(frequencies), file=sys.stderr)
    out = {"systems": names, "frequencies": frequencies,
           **analyse(refs, systems, src, lines, frequencies["file"] or "the references")}
    return out


def _direction(args: argparse.Namespace) -> tuple[str, str] | None:
    """The direction a multilingual checkpoint translates: --data's --src and --tgt, or
    --direction S-T with files."""
    if args.direction:
        from translator.languages import parse_pairs

        pairs = parse_pairs(args.direction)
        if len(pairs) != 1:
            raise UserError(f"--direction takes one direction (such as de-en), not "
                            f"{args.direction!r}; --all-directions scores every one")
        given = tuple(str(code).lower() for code in (args.src, args.tgt))
        if args.data is not None and pairs[0] != given:
            raise UserError(f"--direction {'-'.join(pairs[0])} contradicts --src {args.src} "
                            f"--tgt {args.tgt} of --data, which name the direction already: "
                            f"leave out --direction")
        return pairs[0]
    return (args.src, args.tgt) if args.data is not None else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    for name, minimum in (("beam", 1), ("batch_tokens", 1), ("bootstrap", 0)):
        if getattr(args, name) < minimum:
            raise UserError(f"--{name.replace('_', '-')} must be at least {minimum}")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    if args.save_hyps:
        hypotheses_directory(args.save_hyps)  # refused before any translating
    if args.run is not None:
        return _evaluate_run(args)
    if args.all_directions:
        from translator.cli.evaluate_directions import evaluate_directions

        return evaluate_directions(args)
    if not args.checkpoint and not args.hyp:
        raise UserError("give the systems to score: --checkpoint CKPT [...] and/or --hyp FILE "
                        "[...], or --run RUN_DIR")
    src, refs, source = _evaluation_data(args)
    if not refs[0]:
        raise CorpusError("the evaluation set is empty")
    names, systems, confidences = [], [], []
    if args.checkpoint:
        names += [str(c) for c in args.checkpoint]
        for hyps, confidence in translate_checkpoints(args.checkpoint, src, args.beam,
                                                      args.batch_tokens, args.threads,
                                                      _direction(args)):
            systems.append(hyps)
            confidences.append(confidence)
    if args.hyp:
        names += [str(h) for h in args.hyp]
        systems += _hypothesis_files(args.hyp, len(refs[0]))
        confidences += [None] * len(args.hyp)
    results = score_systems(names, systems, refs, bootstrap=args.bootstrap, seed=args.seed,
                            test="ar" if args.paired_ar else "bs", confidences=confidences)
    for result, path in zip(results, args.checkpoint or []):
        result["checkpoint"] = str(path)
    if args.save_hyps and args.checkpoint:
        save_hypotheses(args.save_hyps, args.checkpoint, results)
    if args.analysis and not (args.json or args.format == "json"):
        raise UserError("--analysis is part of the JSON document: add --json")
    if args.json or args.format == "json":
        document = {**source, "segments": len(refs[0]), "references": len(refs),
                    "beam": args.beam,
                    "results": [{k: v for k, v in r.items() if k != "hypotheses"}
                                for r in results]}
        if args.analysis:
            document["analysis"] = _analysis(args, src, refs, names, systems, args.train_target,
                                             args.checkpoint[0] if args.checkpoint else None)
        print(json.dumps(document, indent=2))
    elif args.format == "csv":
        sys.stdout.write(to_csv(results))
    elif args.format == "latex":
        sys.stdout.write(to_latex(results))
    else:
        print(format_table(results))
    return 0


def add_evaluate_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `evaluate` to an argparse subparsers object (sets `func`)."""
    e = sub.add_parser(
        "evaluate", help="score checkpoints or hypothesis files with sacreBLEU (BLEU, chrF, "
                         "TER) and compare them",
        description="Translate a test set with each checkpoint, or read each system's "
                    "hypothesis file, and score it with sacreBLEU against one or several "
                    "references. With several systems, each is compared with the first by "
                    "sacreBLEU's paired bootstrap resampling (or approximate randomization), "
                    "with the 95%% interval of its difference. Input: --src FILE --ref FILE "
                    "[--ref FILE ...], or --data DIR [--split SPLIT] --src LANG --tgt LANG; "
                    "--hyp files alone need only --ref.")
    e.add_argument("--checkpoint", nargs="+", action="extend", metavar="CKPT",
                   help="checkpoints to translate and score (a.pt+b.pt: an ensemble, one "
                        "system); the first system is the baseline of the paired test")
    e.add_argument("--hyp", nargs="+", action="extend", metavar="FILE",
                   help="hypothesis files (one line per segment) scored as systems of their "
                        "own, after the checkpoints")
    e.add_argument("--run", metavar="RUN_DIR",
                   help="score every periodic checkpoint (step*.pt) of a run: its history, "
                        "written to RUN_DIR/history.SPLIT.json and .png (a multilingual "
                        "run's: history.SPLIT.S-T.*, the direction --src/--tgt name)")
    e.add_argument("--src", help="source file; with --data, the source language code")
    e.add_argument("--ref", action="append", metavar="FILE",
                   help="reference file (without --data); repeat it for several references "
                        "per segment")
    e.add_argument("--data", help="corpus directory in the Multi30K layout")
    e.add_argument("--split", help=f"split in --data (default: {DEFAULT_SPLIT})")
    e.add_argument("--tgt", help="target language code (with --data)")
    e.add_argument("--direction", metavar="S-T",
                   help="the direction a multilingual checkpoint translates with --src FILE "
                        "(with --data it is --src-tgt)")
    e.add_argument("--all-directions", action="store_true",
                   help="with --data: every direction of a multilingual checkpoint, a table "
                        "of each direction's scores (translator/cli/evaluate_directions.py)")
    e.add_argument("--beam", type=int, default=BEAM_SIZE,
                   help=f"beam size (1 = greedy; default {BEAM_SIZE})")
    e.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS)
    e.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    e.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="paired bootstrap resamples (default 1000; 0 = no test)")
    e.add_argument("--paired-ar", action="store_true",
                   help="paired approximate randomization (10,000 trials, as sacreBLEU's "
                        "--paired-ar) instead of the bootstrap")
    e.add_argument("--seed", type=int, default=12345, help="bootstrap seed (default 12345)")
    e.add_argument("--analysis", action="store_true",
                   help="with --json: scores by source length, length ratio, word F by "
                        "frequency, and the n-grams each system gets right more often than "
                        "the first (compare-mt's analyses)")
    e.add_argument("--train-target", metavar="FILE",
                   help="the training data's target side, for the word frequencies of "
                        "--analysis (default: the training targets the first checkpoint "
                        "records, if unchanged; else the references')")
    e.add_argument("--json", action="store_true",
                   help="print a JSON document instead of the table (= --format json)")
    e.add_argument("--format", choices=("table", "json", "csv", "latex"), default="table",
                   help="table (default), json, csv (a row per system, every figure in a "
                        "column), latex (a booktabs table with the intervals, significance "
                        "marks and signatures)")
    e.add_argument("--save-hyps", metavar="DIR",
                   help="write each checkpoint's translations to DIR/PARENT.STEM.hyp "
                        "(with --all-directions: DIR/S-T.PARENT.STEM.hyp)")
    e.set_defaults(func=cmd_evaluate)
    return e


def cmd_average(args: argparse.Namespace) -> int:
    if args.last is not None:
        if args.last < 2:
            raise UserError("--last must be at least 2: averaging needs two checkpoints")
        if len(args.paths) != 1:
            raise UserError("--last N takes exactly one RUN_DIR")
        paths = select_last_checkpoints(args.paths[0], args.last)
    else:
        paths = [Path(p) for p in args.paths]
        for p in paths:
            if p.is_dir():
                raise UserError(f"{p} is a directory: use --last N {p} to average its last "
                                "N periodic checkpoints")
        if len(paths) < 2:
            raise UserError("averaging needs at least 2 checkpoints")
    out = Path(args.out)
    if any(out.resolve() == p.resolve() for p in paths):
        raise UserError(f"--out {out} is one of the checkpoints being averaged")
    payload = average_checkpoints(paths)
    save_checkpoint(out, payload)
    print(f"averaged {len(paths)} checkpoints into {out}:")
    for p in paths:
        print(f"  {p}")
    return 0


def add_average_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `average` to an argparse subparsers object (sets `func`)."""
    a = sub.add_parser(
        "average", help="average the weights of several checkpoints",
        description="Average checkpoints of the same model: CKPT CKPT [...], or --last N "
                    "RUN_DIR for the run's last N periodic checkpoints (step*.pt).")
    a.add_argument("--out", required=True, help="file to write the averaged checkpoint to")
    a.add_argument("--last", type=int, metavar="N",
                   help="average the last N periodic checkpoints of RUN_DIR (by step)")
    a.add_argument("paths", nargs="+", metavar="CKPT|RUN_DIR")
    a.set_defaults(func=cmd_average)
    return a
