"""Checkpoint evaluation (sacreBLEU BLEU, chrF, TER with paired bootstrap resampling) and
checkpoint averaging, with the `translator evaluate` and `translator average` subcommands.

Scores come from sacreBLEU's metric objects with their default settings, so a number printed
here equals the `sacrebleu` command's on the same hypothesis and reference files. Significance is
sacreBLEU's own paired bootstrap resampling (`sacrebleu.significance.PairedTest`, the code path of
`sacrebleu --paired-bs`): every later checkpoint is compared with the first one, the baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError, average_checkpoints, save_checkpoint
from .data import CorpusError, read_lines, read_split
from .metrics import ALPHA, LABELS, METRICS, _check_pair, paired_bootstrap, score

__all__ = ["ALPHA", "LABELS", "METRICS", "evaluate_checkpoints", "paired_bootstrap", "score"]

log = logging.getLogger(__name__)

DEFAULT_SPLIT = "test_2016_flickr"


def evaluate_checkpoints(checkpoints: list[str], src: list[str], refs: list[str],
                         beam_size: int = 5, batch_tokens: int = 4000,
                         threads: int | None = None, bootstrap: int = 1000,
                         seed: int | None = 12345) -> list[dict]:
    """Translate `src` with each checkpoint and score it against `refs`.

    With more than one checkpoint and `bootstrap` > 0, each later checkpoint is compared with
    the first (the baseline) by paired bootstrap resampling. One dict per checkpoint, in order:
    "checkpoint" (path as given), "bleu", "chrf", "ter", "signatures", "hypotheses",
    "p_values" ({metric: p} or None for the baseline / no test), "significant" ({metric: p < 0.05}
    or None), and "bootstrap" (None, or {"samples", "seed", "baseline", "ci", "signatures"}).
    """
    from .translator import Translator

    if not checkpoints:
        raise CheckpointError("no checkpoints to evaluate")
    _check_pair(src, refs, what="source segments")
    results = []
    done: dict[Path, list[str]] = {}  # a checkpoint named twice is translated once
    for path in checkpoints:
        key = Path(path).resolve()
        if key not in done:
            translator = Translator.from_checkpoint(path, threads=threads)
            log.info("translating %d segments with %s (beam %d)", len(src), path, beam_size)
            done[key] = translator.translate(src, beam_size=beam_size,
                                             batch_tokens=batch_tokens)
            del translator
        hyps = list(done[key])
        result = {"checkpoint": str(path), **score(hyps, refs), "hypotheses": hyps,
                  "p_values": None, "significant": None, "bootstrap": None}
        results.append(result)
    if len(results) > 1 and bootstrap > 0:
        log.info("paired bootstrap resampling against %s (%d samples)", checkpoints[0], bootstrap)
        tests = paired_bootstrap([r["hypotheses"] for r in results], refs, bootstrap, seed)
        for result, test in zip(results, tests):
            result["p_values"] = test["p_values"]
            if test["p_values"] is not None:
                result["significant"] = {k: p < ALPHA for k, p in test["p_values"].items()}
            result["bootstrap"] = {"samples": bootstrap, "seed": seed,
                                   "baseline": str(checkpoints[0]), "ci": test["ci"],
                                   "signatures": test["signatures"]}
    return results


def format_table(results: list[dict]) -> str:
    """An aligned text table of the results, then the metric signatures."""
    tested = any(r.get("p_values") for r in results)
    header = ["checkpoint", "BLEU", "chrF", "TER"]
    if tested:
        header += [f"p({LABELS[k]})" for k in METRICS]
    rows = []
    for r in results:
        row = [r["checkpoint"]] + [f"{r[k]:.2f}" for k in METRICS]
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
        out.append(f"* p < {ALPHA}: differs from the first checkpoint (paired bootstrap "
                   f"resampling, {bs['samples']} samples, seed {bs['seed']})")
    out.append("")
    seen: list[dict] = []
    for r in results:
        if r["signatures"] not in seen:
            seen.append(r["signatures"])
    for sigs in seen:
        for k in METRICS:
            out.append(f"{LABELS[k]:<5} {sigs[k]}")
    return "\n".join(out)


# ----------------------------------------------------------------------------- the commands
def _user_error(message: str) -> Exception:
    from .cli import UserError  # lazily: cli imports this module to register the commands

    return UserError(message)


def hypothesis_file_names(checkpoints: Sequence[str | Path]) -> list[str]:
    """One distinct, filesystem-safe file name per checkpoint: `{parent-dir}.{stem}.hyp`."""
    names: list[str] = []
    for path in checkpoints:
        p = Path(path).resolve()
        base = ".".join(x for x in (p.parent.name, p.stem) if x)
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip(".") or "checkpoint"
        name, n = f"{base}.hyp", 2
        while name in names:
            name, n = f"{base}.{n}.hyp", n + 1
        names.append(name)
    return names


def _evaluation_data(args: argparse.Namespace) -> tuple[list[str], list[str], dict]:
    """Source and references from either --src FILE --ref FILE or --data DIR --src L --tgt L."""
    if args.data is not None:
        if args.ref is not None:
            raise _user_error("--ref cannot be combined with --data: the references are "
                              "DIR/SPLIT.TGT (use --src FILE --ref FILE without --data instead)")
        if not args.src or not args.tgt:
            raise _user_error("with --data, give the language codes --src and --tgt "
                              "(e.g. --data DIR --src de --tgt en)")
        split = args.split or DEFAULT_SPLIT
        corpus = read_split(args.data, split, args.src, args.tgt)
        return corpus.src, corpus.tgt, {"data": str(args.data), "split": split,
                                        "src_lang": args.src, "tgt_lang": args.tgt}
    if args.split is not None or args.tgt is not None:
        raise _user_error("--split and --tgt need --data; without --data give "
                          "--src FILE --ref FILE")
    if not args.src or not args.ref:
        raise _user_error("give either --src FILE --ref FILE, or --data DIR --src LANG --tgt LANG")
    src, refs = read_lines(args.src), read_lines(args.ref)
    if len(src) != len(refs):
        raise CorpusError(f"line counts differ: {args.src} has {len(src)} lines, "
                          f"{args.ref} has {len(refs)}")
    return src, refs, {"src": str(args.src), "ref": str(args.ref)}


def cmd_evaluate(args: argparse.Namespace) -> int:
    for name, minimum in (("beam", 1), ("batch_tokens", 1), ("bootstrap", 0)):
        if getattr(args, name) < minimum:
            raise _user_error(f"--{name.replace('_', '-')} must be at least {minimum}")
    if args.threads is not None and args.threads < 1:
        raise _user_error("--threads must be at least 1")
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
    e.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy; default 5)")
    e.add_argument("--batch-tokens", type=int, default=4000)
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


def periodic_checkpoints(run_dir: str | Path) -> list[Path]:
    """The periodic checkpoints `step*.pt` in `run_dir`, in step order."""
    found = []
    for path in Path(run_dir).glob("step*.pt"):
        match = re.fullmatch(r"step(\d+)\.pt", path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
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


def cmd_average(args: argparse.Namespace) -> int:
    if args.last is not None:
        if args.last < 2:
            raise _user_error("--last must be at least 2: averaging needs two checkpoints")
        if len(args.paths) != 1:
            raise _user_error("--last N takes exactly one RUN_DIR")
        paths = select_last_checkpoints(args.paths[0], args.last)
    else:
        paths = [Path(p) for p in args.paths]
        for p in paths:
            if p.is_dir():
                raise _user_error(f"{p} is a directory: use --last N {p} to average its last "
                                  "N periodic checkpoints")
        if len(paths) < 2:
            raise _user_error("averaging needs at least 2 checkpoints")
    out = Path(args.out)
    if any(out.resolve() == p.resolve() for p in paths):
        raise _user_error(f"--out {out} is one of the checkpoints being averaged")
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
