"""The `translator serve` subcommand, registered through the `translator.commands` entry-point
group (pyproject.toml): translator's command line finds it there, so translator imports nothing
from worker. It starts Redis (if needed), the workers and the web app on one machine."""

from __future__ import annotations

import argparse
import os
from typing import Any

from translator.errors import UserError


def register(sub: Any) -> argparse.ArgumentParser:
    """Add `serve` to the `translator` command's argparse subparsers object (sets `func`)."""
    sv = sub.add_parser("serve", help="run Redis (if needed), the workers and the web app")
    sv.add_argument("--host", default="127.0.0.1", help="web address (default %(default)s)")
    sv.add_argument("--port", type=int, default=8000, help="web port (default %(default)s)")
    sv.add_argument("--text-threads", type=int, default=64,
                    help="threads of the interactive worker (requests batched together)")
    sv.add_argument("--doc-processes", type=int, default=1,
                    help="processes of the document/evaluation worker")
    sv.add_argument("--no-web", action="store_true", help="workers only")
    sv.add_argument("--models", metavar="DIR",
                    help="serve the models of a `translator train-pairs` directory "
                         "(instead of MODELS)")
    sv.add_argument("--model", action="append", default=[], metavar="[PAIR=]PATH",
                    help="serve this checkpoint for a pair, or an ensemble: de-en=a.pt+b.pt; "
                         "a checkpoint without a pair serves every direction it translates "
                         "(a multilingual model's: --model runs/multi/best.pt). Repeatable; "
                         "with --models, added to its pairs; a pair's own model wins over a "
                         "multilingual model's direction")
    sv.set_defaults(func=cmd_serve)
    return sv


def cmd_serve(args: argparse.Namespace) -> int:
    # Imported here, not above: `translator --help` and the other commands load this module.
    from .redis_server import RedisServerError
    from .serve import ServeError, serve
    from .settings import SettingsError

    if args.models or args.model:  # the one place models are read from: MODELS
        os.environ["MODELS"] = ",".join(([args.models] if args.models else []) + args.model)
    try:
        return serve(args.host, args.port, args.text_threads, args.doc_processes,
                     web=not args.no_web)
    except (SettingsError, RedisServerError, ServeError) as exc:
        raise UserError(str(exc)) from None
