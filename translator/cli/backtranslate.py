"""`translator backtranslate`: monolingual text translated into a parallel corpus for `translator
train --extra` (translator/inference/backtranslate.py does the work)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from translator.defaults import BATCH_TOKENS, LENGTH_PENALTY, MULTI30K_DIR
from translator.errors import UserError


def cmd_backtranslate(args: argparse.Namespace) -> int:
    """`translator backtranslate`: a monolingual file translated into a synthetic parallel
    corpus (train.<src>.gz / train.<tgt>.gz in --out), in parts a rerun resumes; refuses
    input lines of the evaluation sets."""
    import torch
    from tqdm import tqdm

    from translator.data.held_out import evaluation_lines, refuse_evaluation_lines
    from translator.inference import backtranslate as bt
    from translator.inference.translator import Translator

    if args.beam < 1 or args.batch_tokens < 1 or args.limit < 0:
        raise UserError("--beam and --batch-tokens must be at least 1, --limit at least 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but CUDA is not available here")
    if args.precision is None:  # the device's fastest, as the recipe decodes
        args.precision = "int8" if args.device == "cpu" else "fp32"
    if args.precision == "int8" and args.device != "cpu":
        raise UserError("--precision int8 is for CPUs: on a GPU use fp32 or bf16")
    loaded = Translator.from_checkpoint(args.checkpoint, device=args.device,
                                        threads=args.threads,
                                        int8=args.precision == "int8",
                                        bf16=args.precision == "bf16")
    lang = args.lang or bt.language_of(args.input)
    # a multilingual model's source is the input's language unless --src says otherwise
    translator = loaded.for_options(args.src or (lang if loaded.multilingual and args.tgt
                                                 else None), args.tgt)
    src, tgt = translator.src_lang, translator.tgt_lang
    direction = {"direction": f"{src}-{tgt}"} if translator.multilingual else {}
    bt.check_direction(lang, src, tgt, args.input)
    lines = bt.read_mono(args.input, args.limit)
    if not lines:
        raise UserError(f"{args.input} has no text")
    refuse_evaluation_lines(lines, evaluation_lines(args.data, (src, tgt)), args.input)
    bar = tqdm(total=len(lines), unit="lines", desc=f"{src}->{tgt}", disable=args.quiet,
               mininterval=1.0)

    sampling = {"temperature": args.temperature, "top_k": args.top_k} \
        if args.temperature > 0 else {}
    if sampling and args.beam != 1:
        raise UserError("sampling (--temperature) draws one translation: use --beam 1")
    torch.manual_seed(args.seed)  # a rerun samples the same translations

    def translate(part: list[str]) -> list[str]:
        return translator.translate(part, beam_size=args.beam, batch_tokens=args.batch_tokens,
                                    **sampling)

    start = time.perf_counter()
    summary = bt.backtranslate(translate, lines, Path(args.out), src, tgt,
                               on_part=bar.update, identity=bt.identity_of(
                                   args.checkpoint, beam=args.beam, precision=args.precision,
                                   **({"alpha": LENGTH_PENALTY} if args.beam > 1 else {}),
                                   seed=args.seed, **direction, **sampling))
    bar.close()
    seconds = time.perf_counter() - start
    summary.update(checkpoint=str(args.checkpoint), beam=args.beam, precision=args.precision,
                   input=str(args.input), seconds=round(seconds, 1),
                   lines_per_second=round((summary["lines"] - summary["resumed_lines"])
                                          / max(seconds, 1e-9), 1))
    (Path(args.out) / "backtranslate.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def add_backtranslate_parser(sub) -> None:
    b = sub.add_parser("backtranslate", help="translate monolingual text into a parallel "
                       "corpus (back-translation, or forward translation for self-training)",
                       description=__doc__.split("\n\n")[0])
    b.add_argument("--checkpoint", required=True,
                   help="a model from the monolingual text's language (En->De for English "
                        "captions that become synthetic German sources)")
    b.add_argument("-i", "--input", required=True, help="monolingual text, one segment per "
                   "line (.gz or plain); its language from its name (mono.en.gz) or --lang")
    b.add_argument("--out", required=True, help="corpus directory to write (train.*.gz); "
                   "a rerun resumes there")
    b.add_argument("--lang", help="the input's language (default: from its file name)")
    b.add_argument("--src", help="a multilingual model's source language (default: the "
                                 "input's)")
    b.add_argument("--tgt", help="a multilingual model's target language")
    b.add_argument("--beam", type=int, default=1,
                   help="beam size (default 1: greedy, the fastest)")
    b.add_argument("--temperature", type=float, default=0.0,
                   help="sample each token from the model's distribution at this temperature "
                        "(1: as the model has it) instead of taking the most likely; beam 1")
    b.add_argument("--top-k", type=int, default=0,
                   help="with --temperature: sample among the k most likely tokens only")
    b.add_argument("--seed", type=int, default=1234, help="the sampling's seed")
    b.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS)
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where to decode (default cpu)")
    b.add_argument("--precision", choices=["fp32", "int8", "bf16"],
                   help="decoding precision (default: the device's fastest, int8 on a CPU, "
                        "fp32 on a GPU; bf16 where the hardware runs it)")
    b.add_argument("--threads", type=int, help="torch CPU threads")
    b.add_argument("--limit", type=int, default=0, help="translate only the first N lines")
    b.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR),
                   help="the parallel corpus whose validation and test lines the input must "
                        "not contain (default: $MULTI30K_DIR or %(default)s)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_backtranslate)
