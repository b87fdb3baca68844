"""The length penalty (GNMT alpha) chosen on the validation set, then checked on the test set
against the default (translator/defaults.py LENGTH_PENALTY), with sacreBLEU's paired
bootstrap; beam 5, cased sacreBLEU.

    python benchmarks/length_penalty.py --checkpoint runs/exp/u7000/keep/new/best.pt \\
        --alphas 0,0.2,0.4,0.6,0.8,1.0,1.2 --json runs/exp/length_penalty.json

The test set is decoded only with the default and with the validation's choice: choosing on
the test set would report the best of several tries as if it were one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from translator.data.corpus import read_split
from translator.defaults import BEAM_SIZE, LENGTH_PENALTY, MULTI30K_DIR, TEST_SPLIT
from translator.evaluation.metrics import corpus_bleu
from translator.evaluation.significance import paired_test
from translator.inference.translator import Translator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    p.add_argument("--alphas", default="0,0.2,0.4,0.6,0.8,1.0,1.2")
    p.add_argument("--default", type=float, default=LENGTH_PENALTY,
                   help="the alpha to compare with on the test set (default: the default's)")
    p.add_argument("--beam", type=int, default=BEAM_SIZE)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()

    translator = Translator.from_checkpoint(args.checkpoint, threads=args.threads,
                                            calibrate=False)
    val = read_split(args.data, "val", args.src, args.tgt)
    test = read_split(args.data, TEST_SPLIT, args.src, args.tgt)
    alphas = [float(a) for a in args.alphas.split(",")]
    val_bleu, lengths = {}, {}
    for alpha in alphas:
        hyps = translator.translate(val.src, beam_size=args.beam, alpha=alpha)
        val_bleu[alpha] = round(corpus_bleu(hyps, val.tgt), 2)
        lengths[alpha] = round(sum(len(h.split()) for h in hyps)
                               / sum(len(r.split()) for r in val.tgt), 3)
        print(f"alpha {alpha}: val BLEU {val_bleu[alpha]}, length ratio {lengths[alpha]}",
              flush=True)
    chosen = max(val_bleu, key=val_bleu.get)
    systems = [translator.translate(test.src, beam_size=args.beam, alpha=a)
               for a in dict.fromkeys([args.default, chosen])]
    rows = paired_test(systems if len(systems) > 1 else systems * 2, [test.tgt])
    figures = {"checkpoint": args.checkpoint, "beam": args.beam, "default": args.default,
               "val_bleu": val_bleu, "val_length_ratio": lengths, "chosen": chosen,
               "test_bleu_default": round(rows[0]["bleu"]["score"], 2),
               "test_bleu_chosen": round(rows[1]["bleu"]["score"], 2),
               "p_value": rows[1]["bleu"]["p_value"], "difference": rows[1]["bleu"]["difference"],
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
