"""Decoding speed and BLEU on test_2016_flickr: batched vs one-sentence-at-a-time beam search,
greedy, int8 dynamic quantization and bf16 autocast, all measured in the same run and threads.

    python benchmarks/decode.py --checkpoint runs/base60/best.pt [--threads 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import sacrebleu
import torch

from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import BATCH_TOKENS, BEAM_SIZE, MULTI30K_DIR, TEST_SPLIT


def timed(fn) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--split", default=TEST_SPLIT)
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beam", type=int, default=BEAM_SIZE)
    p.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS)
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    test = read_split(args.data, args.split, args.src, args.tgt)
    fp32 = Translator.from_checkpoint(args.checkpoint, threads=args.threads)
    int8 = Translator.from_checkpoint(args.checkpoint, threads=args.threads, int8=True)
    bf16 = Translator.from_checkpoint(args.checkpoint, threads=args.threads, bf16=True)
    for model in (fp32, int8, bf16):  # warm-up
        model.translate(test.src[:50], beam_size=args.beam)

    runs = {
        "greedy, batched": lambda: fp32.translate(test.src, beam_size=1,
                                                  batch_tokens=args.batch_tokens),
        f"beam {args.beam}, batched": lambda: fp32.translate(
            test.src, beam_size=args.beam, batch_tokens=args.batch_tokens),
        f"beam {args.beam}, one sentence at a time": lambda: [
            fp32.translate([s], beam_size=args.beam)[0] for s in test.src],
        "int8 greedy, batched": lambda: int8.translate(test.src, beam_size=1,
                                                       batch_tokens=args.batch_tokens),
        f"int8 beam {args.beam}, batched": lambda: int8.translate(
            test.src, beam_size=args.beam, batch_tokens=args.batch_tokens),
        "bf16 greedy, batched": lambda: bf16.translate(test.src, beam_size=1,
                                                       batch_tokens=args.batch_tokens),
        f"bf16 beam {args.beam}, batched": lambda: bf16.translate(
            test.src, beam_size=args.beam, batch_tokens=args.batch_tokens),
    }
    results = {}
    for name, fn in runs.items():
        hyps, seconds = timed(fn)
        bleu = sacrebleu.corpus_bleu(hyps, [test.tgt]).score
        results[name] = {"seconds": seconds, "sent_per_s": len(test.src) / seconds, "bleu": bleu}
        print(f"{name:<36} {len(test.src) / seconds:8.1f} sent/s  BLEU {bleu:6.2f}", flush=True)

    beam = f"beam {args.beam}"
    batched, single = results[f"{beam}, batched"], results[f"{beam}, one sentence at a time"]
    q = results[f"int8 {beam}, batched"]
    g, qg = results["greedy, batched"], results["int8 greedy, batched"]
    print()
    print(f"checkpoint {args.checkpoint}, {len(test.src)} sentences of {args.split}, "
          f"{args.threads} threads, torch {torch.__version__}")
    print(f"batched/unbatched {beam} speed-up: {batched['sent_per_s'] / single['sent_per_s']:.1f}x"
          f" (BLEU {batched['bleu']:.2f} vs {single['bleu']:.2f})")
    print(f"{beam} over greedy: {batched['bleu'] - g['bleu']:+.2f} BLEU")
    print(f"int8/fp32 speed, {beam}: {q['sent_per_s'] / batched['sent_per_s']:.2f}x, "
          f"BLEU {q['bleu'] - batched['bleu']:+.2f}; greedy: "
          f"{qg['sent_per_s'] / g['sent_per_s']:.2f}x, BLEU {qg['bleu'] - g['bleu']:+.2f}")
    h, hg = results[f"bf16 {beam}, batched"], results["bf16 greedy, batched"]
    print(f"bf16/fp32 speed, {beam}: {h['sent_per_s'] / batched['sent_per_s']:.2f}x, "
          f"BLEU {h['bleu'] - batched['bleu']:+.2f}; greedy: "
          f"{hg['sent_per_s'] / g['sent_per_s']:.2f}x, BLEU {hg['bleu'] - g['bleu']:+.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoint": args.checkpoint, "threads": args.threads,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
