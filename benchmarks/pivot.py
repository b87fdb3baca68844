"""Pivoting through English against a direct model, on test_2016_flickr (Multi30K's four
languages are line-aligned, so a direct model trains on the same sentences): the direct
`SRC-TGT` model of a models directory against its `SRC-en` then `en-TGT` models, beam 5,
fp32 (what evaluations use), each sentence translated into English and the English
translated on, as a pivoting job does. BLEU, chrF (sacreBLEU) and the seconds of each.

    python benchmarks/pivot.py --models runs/models --pair de-fr [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import BEAM_SIZE, MULTI30K_DIR
from translator.evaluation.metrics import score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", required=True, help="a `translator train-pairs` directory")
    p.add_argument("--pair", default="de-fr")
    p.add_argument("--via", default="en")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--json")
    args = p.parse_args()
    src, tgt = args.pair.split("-")
    test = read_split(args.data, "test_2016_flickr", src, tgt)
    models = Path(args.models)

    def load(pair: str) -> Translator:
        return Translator.from_checkpoint(models / pair / "best.pt", threads=2)

    started = time.perf_counter()
    direct = load(args.pair).translate(test.src, beam_size=BEAM_SIZE)
    direct_s = time.perf_counter() - started
    started = time.perf_counter()
    middle = load(f"{src}-{args.via}").translate(test.src, beam_size=BEAM_SIZE)
    pivoted = load(f"{args.via}-{tgt}").translate(middle, beam_size=BEAM_SIZE)
    pivot_s = time.perf_counter() - started
    out = {"pair": args.pair, "via": args.via, "sentences": len(test.src), "beam": BEAM_SIZE}
    for name, hyps, seconds in (("direct", direct, direct_s), ("pivot", pivoted, pivot_s)):
        scores = score(hyps, test.tgt)
        out[name] = {"bleu": round(scores["bleu"], 2), "chrf": round(scores["chrf"], 2),
                     "seconds": round(seconds, 1)}
    out["signature"] = score(direct, test.tgt)["signatures"]["bleu"]
    out["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
