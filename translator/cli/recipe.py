"""`translator recipe`: the best model for a pair in one command (translator/training/recipe.py
says what it does)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from translator.cli.options import DEFAULT_DATA, build_config
from translator.defaults import BEAM_SIZE
from translator.errors import UserError
from translator.languages import parse_pairs


def cmd_recipe(args: argparse.Namespace) -> int:
    from translator.training.recipe import Recipe, check_inputs

    pairs = parse_pairs(args.pair)
    if len(pairs) != 1:
        raise UserError("--pair names one pair, e.g. de-en")
    (src, tgt), = pairs
    data, mono = Path(args.data), Path(args.mono)
    check_inputs(data, mono, src, tgt)
    report = Recipe(build_config(args), data, mono, src, tgt, Path(args.out), args.updates,
                    extra_ratio=args.extra_ratio, mono_lines=args.mono_lines, beam=args.beam,
                    cache_dir=args.cache_dir, progress=not args.quiet,
                    reverse=args.reverse, warm_start=args.warm_start).run()
    print(json.dumps({k: report[k] for k in ("pair", "final", "baseline_bleu", "final_bleu",
                                             "p_value")}, indent=2))
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def add_recipe_parser(sub) -> None:
    r = sub.add_parser("recipe", help="the best model for a pair in one command: baseline, "
                       "reverse model, back-translation, final model, test report",
                       description=__doc__.split("\n\n")[0])
    r.add_argument("--pair", required=True, help="e.g. de-en")
    r.add_argument("--data", default=DEFAULT_DATA, help="the parallel corpus (Multi30K layout)")
    r.add_argument("--mono", required=True, help="monolingual text of the target language "
                   "(train.<tgt>.gz), e.g. ../shared/data/multi30k-task2")
    r.add_argument("--out", required=True, help="the recipe's directory (a rerun resumes)")
    r.add_argument("--updates", type=int, required=True,
                   help="updates of all training stages together (baseline 30%%, reverse "
                        "20%%, the back-translated model 50%%; with --reverse 37.5%% and "
                        "62.5%%)")
    r.add_argument("--reverse", metavar="CHECKPOINT",
                   help="a model of the other direction to back-translate with instead of "
                        "training one (e.g. the other pair's recipe baseline; a+b.pt for an "
                        "ensemble)")
    r.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=None,
                   help="the back-translated model starts from the baseline's weights with a "
                        "new schedule (the default), or from nothing (--no-warm-start); a "
                        "resumed recipe keeps its own choice")
    r.add_argument("--extra-ratio", type=float, default=1.0,
                   help="synthetic pairs per real pair (default 1)")
    r.add_argument("--mono-lines", type=int, default=0,
                   help="back-translate only the first N lines (default: all)")
    r.add_argument("--beam", type=int, default=BEAM_SIZE)
    r.add_argument("--config", help="YAML file overriding the preset")
    r.add_argument("--preset", default="base")
    r.add_argument("--cache-dir")
    r.add_argument("--threads", type=int, help="torch CPU threads (default 2); a resumed "
                   "recipe may be given other threads")
    r.add_argument("--seed", type=int, help="every stage's training seed")
    r.add_argument("--device", choices=["cpu", "cuda"],
                   help="where every stage trains and decodes (default cpu; cuda: one GPU, "
                        "with AMP); a resumed recipe may be given another")
    r.add_argument("-q", "--quiet", action="store_true")
    r.set_defaults(func=cmd_recipe, max_minutes=None, max_steps=None,
                   max_epochs=None, accum_steps=None)
