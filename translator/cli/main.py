"""The `translator` command: train, translate, evaluate, average, download, and the subcommands
of packages above translator (`serve` from worker), found through the `translator.commands`
entry-point group."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from translator.checkpoint import CheckpointError
from translator.cli.backtranslate import add_backtranslate_parser
from translator.cli.ensemble import calibrate_ensemble, is_ensemble
from translator.cli.evaluate import add_average_parser, add_evaluate_parser
from translator.cli.options import (
    DEFAULT_DATA,
    add_preparation_options,
    add_training_options,
    build_config,
    train_overrides,
)
from translator.cli.recipe import add_recipe_parser
from translator.config import ConfigError
from translator.data.corpus import CorpusError
from translator.defaults import BATCH_TOKENS, BEAM_SIZE, LENGTH_PENALTY
from translator.errors import UserError

__all__ = ["COMMANDS_GROUP", "UserError", "main", "parser"]


COMMANDS_GROUP = "translator.commands"
"""Entry-point group of subcommands from other packages: each entry point is a callable
`register(subparsers)` that adds its subparser and sets `func` (worker's `serve` is one)."""


def _test_beams(args: argparse.Namespace) -> list[int]:
    return [] if args.no_test else sorted({1, args.test_beam})


def _languages(args: argparse.Namespace, cfg) -> tuple:
    """(config, source, target) of `translator train`: one pair (--src, --tgt: de-en by
    default), or with --langs a multilingual run (translator/data/multilingual.py)."""
    from translator.data.multilingual import multilingual_config, resolve_directions

    if not args.langs and not cfg.data.langs:
        if args.directions or args.english_centric:
            raise UserError("--directions and --english-centric choose among the languages of "
                            "--langs: give --langs too")
        return cfg, args.src or "de", args.tgt or "en"
    if args.src or args.tgt:
        raise UserError("--langs (or data.langs in --config) trains every direction among its "
                        "languages: leave out --src and --tgt (they train one pair)")
    if args.langs:
        langs = [lang.strip().lower() for lang in args.langs.split(",") if lang.strip()]
        directions = resolve_directions(langs, args.directions, args.english_centric)
    else:  # the config file's languages, its directions unless the options choose others
        langs = cfg.data.langs
        chosen = args.directions or args.english_centric
        directions = resolve_directions(langs, args.directions if chosen
                                        else ",".join(cfg.data.directions),
                                        args.english_centric)
    return multilingual_config(cfg, langs, directions), None, None


def add_language_options(p: argparse.ArgumentParser) -> None:
    """What a run trains: one pair (--src/--tgt) or, with --langs, a multilingual model."""
    p.add_argument("--src", help="source language code (default: de)")
    p.add_argument("--tgt", help="target language code (default: en)")
    p.add_argument("--langs", metavar="L1,L2,...",
                   help="a multilingual model of every direction among these languages of a "
                        "multi-way corpus (train.<lang> files aligned line by line), e.g. "
                        "en,de,fr,cs; excludes --src/--tgt")
    p.add_argument("--directions", metavar="S-T,...",
                   help="with --langs: train these directions only, e.g. de-en,en-de,fr-en")
    p.add_argument("--english-centric", action="store_true",
                   help="with --langs: only the directions to and from English")


def _resumed_languages(args: argparse.Namespace, src: str | None, tgt: str | None) -> tuple:
    """(source, target) a `--resume` goes on with: the run's own, read from its last.pt.
    Left out, --src/--tgt default to them (not to de-en); given otherwise, UserError, as
    for --src/--tgt beside a multilingual run (other --langs: resume_config's error)."""
    from translator.checkpoint_file import read_meta

    last = Path(args.out) / "last.pt"
    if not args.resume or not last.is_file():
        return src, tgt
    meta = read_meta(last)  # without the weights: the trainer loads them
    if meta.get("directions"):
        if args.src or args.tgt:
            raise UserError(f"{args.out} is a multilingual run ({', '.join(meta['directions'])})"
                            f": --resume it without --src and --tgt")
        return None, None
    saved = (meta.get("src_lang"), meta.get("tgt_lang"))
    if None in saved or args.langs:
        return src, tgt
    if (args.src or saved[0], args.tgt or saved[1]) != saved:
        raise UserError(f"{args.out} trains {saved[0]}-{saved[1]}: --resume goes on with its "
                        f"own pair (leave out --src/--tgt, or start a new run in another --out)")
    return saved


def cmd_train(args: argparse.Namespace) -> int:
    """`translator train`: one pair or a multilingual run; prints the run's summary (exit
    130 when interrupted: last.pt is saved and --resume goes on)."""
    from translator.training.pairs import train_run

    cfg, src, tgt = _languages(args, build_config(args, multilingual=True))
    src, tgt = _resumed_languages(args, src, tgt)
    summary = train_run(cfg, args.data, src, tgt, args.out,
                        resume=args.resume, progress=not args.quiet,
                        overrides=train_overrides(args), test_beams=_test_beams(args),
                        cache_dir=args.cache_dir, prepare_processes=args.prepare_processes,
                        init_from=args.init)
    if summary.get("stop_reason") == "interrupted":
        return 130
    if summary.get("rank"):  # torchrun's other ranks: rank 0 prints the summary
        return 0
    print(json.dumps(summary, indent=2))
    return 0


def cmd_train_pairs(args: argparse.Namespace) -> int:
    from translator.languages import parse_pairs
    from translator.training.train_pairs import train_pairs

    if args.mono and (args.extra or args.max_minutes):
        raise UserError("--mono builds pairs by the recipe, whose budget is --max-steps and "
                        "whose synthetic corpus is its own: leave out --extra and --max-minutes")

    index = train_pairs(build_config(args), args.data, parse_pairs(args.pairs), args.out,
                        progress=not args.quiet, overrides=train_overrides(args),
                        cache_dir=args.cache_dir, prepare_processes=args.prepare_processes,
                        test_beams=_test_beams(args), mono=args.mono)
    print(json.dumps(index, indent=2))
    return 0


def _read_input(path: str | None) -> str:
    try:
        if path:
            with open(path, "rb") as f:
                data = f.read()
        else:
            data = sys.stdin.buffer.read()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise UserError(f"cannot read input {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"input is not valid UTF-8 (byte offset {exc.start})") from None


def cmd_translate(args: argparse.Namespace) -> int:
    """`translator translate`: lines, a document (--document) or a file format (by the
    input's extension) from stdin or -i to stdout or -o."""
    from translator.inference.translator import Translator

    if args.beam < 1 or not 1 <= args.n_best <= args.beam:
        raise UserError("--beam must be at least 1 and --n-best between 1 and --beam")
    if args.int8 and args.bf16:
        raise UserError("choose --int8 or --bf16, not both")
    file_format = _file_format(args.input)
    translator = Translator.from_checkpoint(args.checkpoint, threads=args.threads,
                                            int8=args.int8, bf16=args.bf16
                                            ).for_options(args.src, args.tgt)
    progress = bool(args.input) and not args.quiet
    options = dict(beam_size=args.beam, batch_tokens=args.batch_tokens, alpha=args.alpha)
    if file_format is not None:
        return _translate_file(translator, args, file_format, progress, options)
    text = _read_input(args.input)
    if args.document:
        if args.n_best > 1 or args.confidence:
            raise UserError("--n-best and --confidence cannot be combined with --document")
        output = translator.translate_document(text, **options)
    else:
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not args.quiet:
            _note_multi_sentence_lines(lines, translator.src_lang)
        if args.confidence and args.n_best == 1:
            output = "".join(f"{o.text}\t{o.confidence:.4f}\n" for o in translator.translate_scored(
                lines, progress=progress, **options))
        elif args.n_best == 1:
            output = "".join(o + "\n" for o in translator.translate(lines, progress=progress,
                                                                    **options))
        elif args.confidence:
            raise UserError("--confidence cannot be combined with --n-best")
        else:  # Moses n-best format: index ||| translation ||| score
            nbest = translator.translate_hypotheses(lines, n_best=args.n_best, progress=progress,
                                                    **options)
            output = "".join(f"{i} ||| {t} ||| {h.score:.4f}\n"
                             for i, hyps in enumerate(nbest) for t, h in hyps)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(output)
    else:
        sys.stdout.write(output)
        sys.stdout.flush()
    return 0


MULTI_SENTENCE_PROBE = 10_000
"""Lines of line-by-line input checked for more than one sentence (the note below)."""


def _note_multi_sentence_lines(lines: list[str], lang: str | None) -> None:
    """Say on stderr when lines hold several sentences: each line is one segment to the model
    (what a test set needs), and a model trained on single sentences may drop the later
    ones; --document translates sentence by sentence and keeps the lines."""
    from translator.inference.document import count_sentences

    probe = lines[:MULTI_SENTENCE_PROBE]
    several = sum(count_sentences(line, lang) > 1 for line in probe)
    if several:
        of = f"{len(probe):,} lines" + (" checked" if len(lines) > len(probe) else "")
        print(f"note: {several:,} of {of} hold more than one sentence; each line is "
              f"translated as one segment (--document: sentence by sentence, keeping the "
              f"lines)", file=sys.stderr)


def _file_format(path: str | None) -> str | None:
    """The document format of an input file named with a format's extension other than .txt
    (a .txt file and stdin stay one line = one segment unless --document)."""
    from translator.formats import extensions

    if not path:
        return None
    name = extensions().get(Path(path).suffix.lower())
    return name if name not in (None, "txt") else None


def _translate_file(translator, args: argparse.Namespace, format_name: str, progress: bool,
                    options: dict) -> int:
    """A document file (docx, html, srt, ...) translated into a copy of the same format."""
    from translator.formats import FormatError, detect, read_file, translate_parsed

    if not args.output:
        raise UserError(f"give -o/--output for a .{format_name} file (the translation is a "
                        f"file of the same kind)")
    if args.n_best > 1 or args.confidence:
        raise UserError("--n-best and --confidence are for line-by-line text, not documents")
    try:
        data = Path(args.input).read_bytes()
        fmt = detect(data, args.input)
        parsed = read_file(data, fmt, retranslate=args.retranslate)
    except OSError as exc:
        raise UserError(f"cannot read {args.input}: {exc.strerror or exc}") from None
    except FormatError as exc:
        raise UserError(f"{args.input}: {exc}") from None
    for note in parsed.notes:
        print(f"note: {note}", file=sys.stderr)
    spans = translate_parsed(  # inline formatting placed by the model's alignment
        parsed, lambda sentences: translator.translate_aligned(sentences, progress=progress,
                                                               **options),
        translator.src_lang)
    Path(args.output).write_bytes(parsed.write(spans, translator.tgt_lang or "und"))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from translator.checkpoint import load_checkpoint
    from translator.training.calibrate import calibrate_checkpoint

    if is_ensemble(args.checkpoint):  # its own calibration file: translator/cli/ensemble.py
        return calibrate_ensemble(args)
    if args.if_missing:
        data = load_checkpoint(args.checkpoint)
        if data.get("casing") and data.get("confidence"):
            print(f"{args.checkpoint} has its casing table and confidence calibration",
                  file=sys.stderr)
            return 0
    summary = calibrate_checkpoint(args.checkpoint, args.data, split=args.split,
                                   beam_size=args.beam, out=args.out)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    if args.task2:  # the monolingual captions, built from the raw files and verified
        from translator.data.captions import download_captions

        path = download_captions(args.out or "data/multi30k-task2", base_url=args.base_url)
        print(f"Multi30K's task-2 captions are in {path} (train.en.gz, train.de.gz)")
        return 0
    from translator.data.download import download_corpus

    path = download_corpus(args.out or "data/multi30k", base_url=args.base_url)
    print(f"Multi30K is in {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The `translator` command line: every subcommand, those of other packages (`serve`,
    COMMANDS_GROUP) included."""
    p = argparse.ArgumentParser(prog="translator", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a parallel corpus (one pair, or every "
                                     "direction among --langs)")
    add_language_options(t)
    t.add_argument("--out", required=True, help="run directory for checkpoints and logs")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    t.add_argument("--init", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights and vocabulary (same languages "
                        "and model settings, dropout aside), with a new optimizer and "
                        "schedule: e.g. continue a model on back-translated data")
    add_training_options(t)
    t.set_defaults(func=cmd_train)

    tp = sub.add_parser("train-pairs", help="train several directions in turn (resumable), "
                                            "writing OUT/<pair>/best.pt and OUT/index.json")
    tp.add_argument("--pairs", required=True,
                    help="comma-separated directions, e.g. de-en,en-de,fr-en,en-fr,cs-en,en-cs")
    tp.add_argument("--out", required=True, help="models directory")
    tp.add_argument("--mono", help="monolingual text (train.<lang>.gz, e.g. "
                    "../shared/data/multi30k-task2): a pair whose target language has text "
                    "there is built by `translator recipe` (back-translation) within its "
                    "--max-steps updates in all; the others are trained plainly")
    add_training_options(tp)
    tp.set_defaults(func=cmd_train_pairs)

    pr = sub.add_parser("prepare", help="encode a corpus' train split into the cache that "
                                        "`train` reads (what train does first, alone)")
    add_language_options(pr)
    pr.add_argument("--data", default=DEFAULT_DATA, help="corpus directory (Multi30K layout)")
    pr.add_argument("--config", help="YAML file overriding the preset (its data and vocab "
                                     "sections and train.seed decide the cache entry)")
    pr.add_argument("--preset", default="base", help="named preset (default: base)")
    pr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_preparation_options(pr)
    pr.set_defaults(func=cmd_prepare, max_minutes=None, max_steps=None, seed=None,
                    threads=None, device=None, max_epochs=None, accum_steps=None)

    tr = sub.add_parser("translate", help="translate lines from stdin or a file, or a document "
                                          "file (.docx, .odt, .pptx, .html, .md, .srt, .vtt, "
                                          ".xlf, .po) into a copy of the same format")
    tr.add_argument("--checkpoint", required=True, help="a.pt, or a.pt+b.pt: an ensemble")
    tr.add_argument("--src", help="source language (a multilingual model's direction; "
                                  "checked against a model of one pair)")
    tr.add_argument("--tgt", help="target language (a multilingual model's direction)")
    tr.add_argument("-i", "--input", help="input file (default: stdin); a document format's "
                                          "extension translates the file as that format")
    tr.add_argument("-o", "--output", help="output file (default: stdout; required for a "
                                           "document file)")
    tr.add_argument("--beam", type=int, default=BEAM_SIZE,
                    help=f"beam size (1 = greedy; default {BEAM_SIZE})")
    tr.add_argument("--n-best", type=int, default=1,
                    help="N best translations per line (Moses format: i ||| text ||| score)")
    tr.add_argument("--alpha", type=float, default=LENGTH_PENALTY,
                    help=f"GNMT length penalty (default {LENGTH_PENALTY})")
    tr.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS,
                    help="source tokens x beam per batch (default %(default)s)")
    tr.add_argument("--int8", action="store_true", help="int8 dynamic quantization (CPU)")
    tr.add_argument("--bf16", action="store_true",
                    help="bfloat16 matrix products (fast on CPUs with AVX-512 BF16 or AMX and "
                         "GPUs of compute capability 8.0+; refused where it cannot run)")
    tr.add_argument("--confidence", action="store_true",
                    help="append a tab and the model's confidence (0..1) to each line")
    tr.add_argument("--document", action="store_true",
                    help="treat the input as one document: split sentences, keep paragraphs")
    tr.add_argument("--retranslate", action="store_true",
                    help="PO/XLIFF: translate entries that already have a translation too")
    tr.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    tr.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=cmd_translate)

    add_evaluate_parser(sub)
    add_backtranslate_parser(sub)
    add_recipe_parser(sub)
    add_average_parser(sub)

    c = sub.add_parser("calibrate", help="add the casing table and the confidence calibration "
                                         "to a checkpoint (train does this for best.pt)")
    c.add_argument("--checkpoint", required=True, help="a.pt, or a.pt+b.pt: an ensemble")
    c.add_argument("--data", default=DEFAULT_DATA,
                   help="the checkpoint's corpus directory (default: $MULTI30K_DIR or "
                        "%(default)s): its train split gives the casing table")
    c.add_argument("--split", default="val", help="split the confidence is fitted on "
                                                  "(default: %(default)s)")
    c.add_argument("--beam", type=int, default=BEAM_SIZE, help="beam size (default %(default)s)")
    c.add_argument("--out", help="write here instead of in place")
    c.add_argument("--if-missing", action="store_true",
                   help="do nothing if the checkpoint has both already")
    c.set_defaults(func=cmd_calibrate)

    d = sub.add_parser("download", help="download Multi30K with checksum verification")
    d.add_argument("--out", help="target directory (default: data/multi30k, or "
                   "data/multi30k-task2 with --task2)")
    d.add_argument("--task2", action="store_true", help="the task-2 training captions "
                   "(monolingual, for back-translation) instead of the parallel corpus")
    d.add_argument("--base-url", help="mirror URL (default: the manifest's public source)")
    d.set_defaults(func=cmd_download)

    add_registered_commands(sub)
    return p


def cmd_prepare(args: argparse.Namespace) -> int:
    from translator.data.multilingual import prepare_multilingual
    from translator.data.prepare import prepare

    cfg, src, tgt = _languages(args, build_config(args, multilingual=True))
    if cfg.data.langs:  # the shared vocabulary, every direction's entry and their union
        prepared = prepare_multilingual(cfg, args.data, args.cache_dir, args.prepare_processes,
                                        progress=not args.quiet)
    else:
        prepared = prepare(cfg, args.data, src, tgt, args.cache_dir, args.prepare_processes,
                           progress=not args.quiet)
    print(json.dumps({"cache": str(prepared.directory), "from_cache": prepared.from_cache,
                      "pairs": len(prepared.corpus), "vocab": len(prepared.src_tok),
                      "kept": prepared.report.kept, "dropped": prepared.report.dropped},
                     indent=2))
    return 0


def add_registered_commands(sub: Any) -> None:
    """Add the subcommands registered in the `translator.commands` entry-point group.

    translator imports nothing above it: a package that adds a command (worker: `serve`)
    declares an entry point `NAME = "module:register"`, and `register(subparsers)` adds the
    subparser. One that fails to load or register is left out with a one-line warning, so the
    other commands still work.
    """
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if ep.name in sub.choices:
            _warn(f"command {ep.name!r} ({ep.value}) is left out: the name is taken")
            continue
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plug-in must not take the other commands down
            reason = (str(exc).strip().splitlines() or [""])[0]
            _warn(f"command {ep.name!r} ({ep.value}) is unavailable: "
                  f"{type(exc).__name__}{': ' + reason if reason else ''}")


def _warn(message: str) -> None:
    print(f"translator: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from translator.data.download import DownloadError

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
