"""The `translator evaluate` and `translator average` subcommands: argument parsing, input
checks and output around the library functions of `translator.evaluation.evaluate` and
`translator.checkpoint`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from translator.checkpoint import average_checkpoints, save_checkpoint
from translator.data.corpus import CorpusError, read_lines, read_split
from translator.defaults import BATCH_TOKENS, BEAM_SIZE
from translator.errors import UserError
from translator.evaluation.evaluate import (
    DEFAULT_SPLIT,
    evaluate_checkpoints,
    format_table,
    hypothesis_file_names,
    select_last_checkpoints,
)


def _evaluation_data(args: argparse.Namespace) -> tuple[list[str], list[str], dict]:
    """Source and references from either --src FILE --ref FILE or --data DIR --src L --tgt L."""
    if args.data is not None:
        if args.ref is not None:
            raise UserError("--ref cannot be combined with --data: the references are "
                            "DIR/SPLIT.TGT (use --src FILE --ref FILE without --data instead)")
        if not args.src or not args.tgt:
            raise UserError("with --data, give the language codes --src and --tgt "
                            "(e.g. --data DIR --src de --tgt en)")
        split = args.split or DEFAULT_SPLIT
        corpus = read_split(args.data, split, args.src, args.tgt)
        return corpus.src, corpus.tgt, {"data": str(args.data), "split": split,
                                        "src_lang": args.src, "tgt_lang": args.tgt}
    if args.split is not None or args.tgt is not None:
        raise UserError("--split and --tgt need --data; without --data give "
                        "--src FILE --ref FILE")
    if not args.src or not args.ref:
        raise UserError("give either --src FILE --ref FILE, or --data DIR --src LANG --tgt LANG")
    src, refs = read_lines(args.src), read_lines(args.ref)
    if len(src) != len(refs):
        raise CorpusError(f"line counts differ: {args.src} has {len(src)} lines, "
                          f"{args.ref} has {len(refs)}")
    return src, refs, {"src": str(args.src), "ref": str(args.ref)}


def cmd_evaluate(args: argparse.Namespace) -> int:
    for name, minimum in (("beam", 1), ("batch_tokens", 1), ("bootstrap", 0)):
        if getattr(args, name) < minimum:
            raise UserError(f"--{name.replace('_', '-')} must be at least {minimum}")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    src, refs, source = _evaluation_data(args)
    if not src:
        raise CorpusError("the evaluation set is empty")
    results = evaluate_checkpoints(args.checkpoint, src, refs, beam_size=args.beam,
                                   batch_tokens=args.batch_tokens, threads=args.threads,
                                   bootstrap=args.bootstrap, seed=args.seed)
    if args.save_hyps:
        out_dir = Path(args.save_hyps)
        out_dir.mkdir(parents=True, exist_ok=True)
        for result, name in zip(results, hypothesis_file_names(args.checkpoint)):
            path = out_dir / name
            path.write_text("".join(h.replace("\n", " ") + "\n" for h in result["hypotheses"]),
                            encoding="utf-8")
            result["hypotheses_file"] = str(path)
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        document = {**source, "segments": len(src), "beam": args.beam,
                    "results": [{k: v for k, v in r.items() if k != "hypotheses"}
                                for r in results]}
        print(json.dumps(document, indent=2))
    else:
        print(format_table(results))
    return 0


def add_evaluate_parser(sub: Any) -> argparse.ArgumentParser:
    """Add `evaluate` to an argparse subparsers object (sets `func`)."""
    e = sub.add_parser(
        "evaluate", help="score checkpoints with sacreBLEU (BLEU, chrF, TER) and compare them",
        description="Translate a test set with each checkpoint and score it with sacreBLEU. "
                    "With several checkpoints, each is compared with the first by paired "
                    "bootstrap resampling. Input: --src FILE --ref FILE, or --data DIR "
                    "[--split SPLIT] --src LANG --tgt LANG.")
    e.add_argument("--checkpoint", nargs="+", required=True, metavar="CKPT",
                   help="checkpoints to evaluate; the first is the baseline of the paired test")
    e.add_argument("--src", help="source file; with --data, the source language code")
    e.add_argument("--ref", help="reference file (without --data)")
    e.add_argument("--data", help="corpus directory in the Multi30K layout")
    e.add_argument("--split", help=f"split in --data (default: {DEFAULT_SPLIT})")
    e.add_argument("--tgt", help="target language code (with --data)")
    e.add_argument("--beam", type=int, default=BEAM_SIZE,
                   help=f"beam size (1 = greedy; default {BEAM_SIZE})")
    e.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS)
    e.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    e.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="paired bootstrap resamples (default 1000; 0 = no test)")
    e.add_argument("--seed", type=int, default=12345, help="bootstrap seed (default 12345)")
    e.add_argument("--json", action="store_true",
                   help="print a JSON document instead of the table")
    e.add_argument("--save-hyps", metavar="DIR",
                   help="write each checkpoint's translations to DIR/PARENT.STEM.hyp")
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
