"""What subword regularisation (`data.subword_alpha`, translator/data/sampling.py) costs a
training batch: the tokens a sampled batch holds against the cached best segmentation's, per
side, and the time sampling takes, for each alpha, on training batches of the real corpus.

    python benchmarks/subword_sampling.py --alphas 0.1,0.2,0.3,0.5,0.8 --batches 40 \\
        [--preset base] [--config CFG] [--src de --tgt en] [--json runs/exp/sampling.json]

The corpus is prepared (or memory-mapped from the cache) as `translator train` would with the
same preset and config; the batches are an epoch's first `--batches` of the base batch size.
Each alpha draws the same batches with the same places in the run; the time is sampling and
padding per batch, against padding alone for the cached batch; SentencePiece samples on one
thread (which its seeding needs), as in training.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from translator.config import load_config, preset
from translator.data.batching import token_budget_batches
from translator.data.prepare import prepare
from translator.data.sampling import SampledSegmentation
from translator.data.vocab import PAD_ID
from translator.defaults import MULTI30K_DIR


def tokens(batch: dict) -> tuple[int, int]:
    return int((batch["src"] != PAD_ID).sum()), int((batch["tgt_out"] != PAD_ID).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    p.add_argument("--preset", default="base")
    p.add_argument("--config")
    p.add_argument("--alphas", default="0.1,0.2,0.3,0.5,0.8")
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--json")
    args = p.parse_args()
    cfg = preset(args.preset)
    if args.config:
        cfg = load_config(args.config, base=cfg)
    prepared = prepare(cfg, args.data, args.src, args.tgt, progress=False)
    corpus = prepared.corpus
    batches = token_budget_batches(corpus.batch_lengths(), cfg.train.batch_tokens,
                                   shuffle=True, seed=cfg.train.seed)[:args.batches]
    start = time.perf_counter()
    cached = [tokens(corpus.batch(b)) for b in batches]
    base_ms = (time.perf_counter() - start) / len(batches) * 1000
    src0, tgt0 = map(sum, zip(*cached))
    rows = []
    print(f"{len(batches)} batches of {cfg.train.batch_tokens} tokens ({args.src}-{args.tgt}, "
          f"{len(prepared.src_tok)} pieces): cached {src0} / {tgt0} tokens, {base_ms:.1f} ms")
    print("| alpha | source tokens | target tokens | ms a batch |")
    print("|---|---|---|---|")
    for alpha in (float(a) for a in args.alphas.split(",")):
        sampled = SampledSegmentation(corpus, prepared.src_tok, prepared.tgt_tok, alpha,
                                      cfg.data.max_len)
        start = time.perf_counter()
        counts = [tokens(sampled.batch(b, (cfg.train.seed, 0, i, 0, 0)))
                  for i, b in enumerate(batches)]
        ms = (time.perf_counter() - start) / len(batches) * 1000
        src, tgt = map(sum, zip(*counts))
        rows.append({"alpha": alpha, "src_growth": round(src / src0, 3),
                     "tgt_growth": round(tgt / tgt0, 3), "ms_per_batch": round(ms, 1)})
        print(f"| {alpha} | {src / src0:.3f}x | {tgt / tgt0:.3f}x | {ms:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"pair": f"{args.src}-{args.tgt}", "batches": len(batches),
                       "batch_tokens": cfg.train.batch_tokens, "cached_ms": round(base_ms, 2),
                       "cached_tokens": [src0, tgt0], "vocab": len(prepared.src_tok),
                       "rows": rows, "mean_batch_sentences": float(np.mean(
                           [len(b) for b in batches]))}, f, indent=2)


if __name__ == "__main__":
    main()
