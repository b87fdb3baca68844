"""The options `train`, `train-pairs` and `prepare` share, and the configuration they build
(a preset, a YAML file over it, then the command line's options)."""

from __future__ import annotations

import argparse
import os

from translator.config import Config, load_config, preset
from translator.defaults import BEAM_SIZE, MULTI30K_DIR
from translator.errors import UserError

DEFAULT_DATA = os.environ.get("MULTI30K_DIR", MULTI30K_DIR)


def train_overrides(args: argparse.Namespace) -> dict:
    """The train-section options given explicitly on the command line."""
    return {k: v for k, v in {
        "max_minutes": args.max_minutes, "max_steps": args.max_steps, "seed": args.seed,
        "threads": args.threads, "device": args.device, "max_epochs": args.max_epochs,
        "accum_steps": args.accum_steps,
    }.items() if v is not None}


def build_config(args: argparse.Namespace, multilingual: bool = False) -> Config:
    """The configuration of a command; `multilingual`: whether it may train a multilingual
    model (`translator train`), which a config file's `data.langs` asks for."""
    cfg = preset(args.preset)
    if args.config:
        cfg = load_config(args.config, base=cfg)
    overrides = train_overrides(args)
    cfg = cfg.override("train", **overrides) if overrides else cfg
    if cfg.data.langs and not multilingual:
        raise UserError(f"data.langs in {args.config} trains a multilingual model: that is "
                        f"`translator train` (with --langs, or this config)")
    return with_extra(cfg, getattr(args, "extra", None), getattr(args, "extra_ratio", None))


def with_extra(cfg: Config, extra: list[str] | None, ratio: float | None) -> Config:
    """`--extra DIR[:TAG]` and `--extra-ratio` in the data section; each tag joins the
    vocabulary's symbols (translator/data/mixing.py)."""
    from translator.data.mixing import extra_tags

    if extra:
        cfg = cfg.override("data", extra=list(extra))
        symbols = list(dict.fromkeys([*cfg.vocab.symbols, *extra_tags(cfg.data.extra)]))
        cfg = cfg.override("vocab", symbols=symbols)
    return cfg.override("data", extra_ratio=ratio) if ratio is not None else cfg


def add_training_options(t: argparse.ArgumentParser) -> None:
    """The options `train` and `train-pairs` share (the budget applies to each pair)."""
    t.add_argument("--data", default=DEFAULT_DATA,
                   help="corpus directory in the Multi30K layout "
                        "(default: $MULTI30K_DIR or %(default)s)")
    t.add_argument("--config", help="YAML file overriding the preset")
    t.add_argument("--preset", default="base",
                   help="named preset: base, quick (the base model for budgets up to about "
                        "1,000 updates) or tiny (default: base)")
    t.add_argument("--max-minutes", type=float, help="stop after this many minutes of training")
    t.add_argument("--max-steps", type=int, help="stop after this many updates")
    t.add_argument("--max-epochs", type=int, help="stop after this many epochs")
    t.add_argument("--seed", type=int)
    t.add_argument("--threads", type=int, help="torch CPU threads (default 2)")
    t.add_argument("--device", choices=["cpu", "cuda"],
                   help="cuda: under torchrun, each rank its own GPU (LOCAL_RANK), with AMP")
    t.add_argument("--accum-steps", type=int,
                   help="batches per rank accumulated into one update (default 1)")
    t.add_argument("--extra", action="append", metavar="DIR[:TAG]",
                   help="an extra parallel corpus (same train file names as --data; e.g. "
                        "`translator backtranslate`'s output) mixed with the real one; TAG "
                        "(e.g. <bt>) marks its sources as synthetic. Repeatable")
    t.add_argument("--extra-ratio", type=float, metavar="R",
                   help="extra pairs per real pair (the real ones repeated to keep it; "
                        "default 1)")
    add_preparation_options(t)
    t.add_argument("--test-beam", type=int, default=BEAM_SIZE,
                   help="beam size for the final test score")
    t.add_argument("--no-test", action="store_true", help="skip the final test-set score")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_preparation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", help="where prepared corpora and SentencePiece models are "
                   "kept (default: $TRANSLATOR_CACHE or ~/.cache/translator)")
    p.add_argument("--prepare-processes", type=int, default=0, metavar="N",
                   help="processes encoding the corpus, one thread each (default: one per core, "
                        "at most 16)")
