"""The `translator` command: train, translate, download."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .config import Config, ConfigError, load_config, preset
from .data import CorpusError

DEFAULT_DATA = os.environ.get("MULTI30K_DIR", "../shared/data/multi30k")


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


def build_config(args: argparse.Namespace) -> Config:
    cfg = preset(args.preset)
    if args.config:
        cfg = load_config(args.config, base=cfg)
    overrides = {k: v for k, v in {
        "max_minutes": args.max_minutes, "max_steps": args.max_steps, "seed": args.seed,
        "threads": args.threads, "device": args.device, "max_epochs": args.max_epochs,
    }.items() if v is not None}
    return cfg.override("train", **overrides) if overrides else cfg


def cmd_train(args: argparse.Namespace) -> int:
    from .data import find_split_file, read_split
    from .train import TEST_SPLIT, Trainer

    cfg = build_config(args)
    trainer = Trainer(cfg, args.data, args.src, args.tgt, args.out, resume=args.resume,
                      progress=not args.quiet)
    print(trainer.filter_report.summary(), file=sys.stderr)
    summary = trainer.run()
    if summary.get("stop_reason") == "interrupted":
        return 130
    try:
        find_split_file(args.data, TEST_SPLIT, args.src)
        has_test = True
    except CorpusError:
        has_test = False
    if has_test and not args.no_test:
        import sacrebleu

        from .translator import Translator

        test = read_split(args.data, TEST_SPLIT, args.src, args.tgt)
        best = Translator.from_checkpoint(Path(args.out) / "best.pt")
        for beam in sorted({1, args.test_beam}):
            hyps = best.translate(test.src, beam_size=beam)
            metric = sacrebleu.BLEU()  # the signature lives on the metric, not on the score
            bleu = metric.corpus_score(hyps, [test.tgt])
            name = "greedy" if beam == 1 else f"beam{beam}"
            summary[f"{TEST_SPLIT}_bleu_{name}"] = round(bleu.score, 2)
            summary["bleu_signature"] = str(metric.get_signature())
            (Path(args.out) / f"{TEST_SPLIT}.{name}.{args.tgt}").write_text("\n".join(hyps) + "\n")
    print(json.dumps(summary, indent=2))
    with open(Path(args.out) / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from .translator import Translator

    translator = Translator.from_checkpoint(args.checkpoint, threads=args.threads)
    source = open(args.input, encoding="utf-8") if args.input else sys.stdin
    try:
        lines = source.read().split("\n")
    except UnicodeDecodeError as exc:
        raise UserError(f"input is not valid UTF-8 (byte offset {exc.start})") from None
    if lines and lines[-1] == "":
        lines.pop()
    outputs = translator.translate(lines, beam_size=args.beam, batch_tokens=args.batch_tokens)
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    sink.write("".join(o + "\n" for o in outputs))
    sink.flush()
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from .download import download_corpus

    path = download_corpus(args.out, base_url=args.base_url)
    print(f"Multi30K is in {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="translator", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a parallel corpus")
    t.add_argument("--data", default=DEFAULT_DATA,
                   help="corpus directory in the Multi30K layout "
                        "(default: $MULTI30K_DIR or %(default)s)")
    t.add_argument("--src", default="de", help="source language code (default: de)")
    t.add_argument("--tgt", default="en", help="target language code (default: en)")
    t.add_argument("--out", required=True, help="run directory for checkpoints and logs")
    t.add_argument("--config", help="YAML file overriding the preset")
    t.add_argument("--preset", default="base", help="named preset: tiny or base (default: base)")
    t.add_argument("--max-minutes", type=float, help="stop after this many minutes of training")
    t.add_argument("--max-steps", type=int, help="stop after this many updates")
    t.add_argument("--max-epochs", type=int, help="stop after this many epochs")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    t.add_argument("--seed", type=int)
    t.add_argument("--threads", type=int, help="torch CPU threads (default 2)")
    t.add_argument("--device", choices=["cpu", "cuda"])
    t.add_argument("--test-beam", type=int, default=5, help="beam size for the final test score")
    t.add_argument("--no-test", action="store_true", help="skip the final test-set score")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    tr = sub.add_parser("translate", help="translate lines from stdin or a file")
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument("-i", "--input", help="input file (default: stdin)")
    tr.add_argument("-o", "--output", help="output file (default: stdout)")
    tr.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy; default 5)")
    tr.add_argument("--batch-tokens", type=int, default=4000)
    tr.add_argument("--threads", type=int, default=2)
    tr.set_defaults(func=cmd_translate)

    d = sub.add_parser("download", help="download Multi30K with checksum verification")
    d.add_argument("--out", default="data/multi30k", help="target directory (default: %(default)s)")
    d.add_argument("--base-url", help="mirror URL (default: the manifest's public source)")
    d.set_defaults(func=cmd_download)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from .download import DownloadError

    try:
        return args.func(args)
    except (ConfigError, CorpusError, CheckpointError, DownloadError, UserError) as exc:
        print(f"translator: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # e.g. CUDA requested but not available
        if "CUDA" not in str(exc):
            raise
        print(f"translator: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"translator: error: file not found: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("translator: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
