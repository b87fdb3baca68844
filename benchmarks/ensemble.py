"""Ensembles against checkpoint averaging and against a wider beam, at the decode cost each
needs (model evaluations per search step: an ensemble of k models at beam b costs k x b):
test BLEU (beam search, cased sacreBLEU) of each system and sacreBLEU's paired bootstrap against
the first.

    python benchmarks/ensemble.py --run runs/exp/u1700/new --other runs/exp/u1700/old \\
        --json runs/exp/ensemble.json

Systems: the run's best.pt at beam B and 2B (a single model at twice the cost); its
averaged.pt (the last periodic checkpoints averaged: one model); the ensemble of best.pt and
its last periodic checkpoint (one run, two points); the ensemble of the two runs' best.pt (two
runs trained apart), both at beam B. Quality figures only: the decode seconds are printed but
mean little on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from decode_rates import alternated_rates

from translator.data.corpus import read_split
from translator.defaults import MULTI30K_DIR, TEST_SPLIT
from translator.evaluation.significance import paired_test
from translator.inference.translator import Translator


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a run directory (best.pt, averaged.pt, "
                   "step*.pt)")
    p.add_argument("--other", required=True, help="another run of the same vocabulary")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--speed", action="store_true", help="measure decode speed instead")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    if args.speed:
        return speed(args)
    run, other = Path(args.run), Path(args.other)
    last_periodic = sorted(run.glob("step*.pt"))[-1]
    systems = [  # (name, spec, beam, models)
        ("best", run / "best.pt", args.beam, 1),
        ("best, beam x2", run / "best.pt", 2 * args.beam, 1),
        ("averaged", run / "averaged.pt", args.beam, 1),
        (f"best + {last_periodic.name}", f"{run / 'best.pt'}+{last_periodic}", args.beam, 2),
        ("best + other run's best", f"{run / 'best.pt'}+{other / 'best.pt'}", args.beam, 2),
    ]
    test = read_split(args.data, TEST_SPLIT, "de", "en")
    rows, outputs = [], []
    for name, spec, beam, models in systems:
        translator = Translator.from_checkpoint(str(spec), threads=args.threads,
                                                calibrate=False)
        start = time.perf_counter()
        hyps = translator.translate(test.src, beam_size=beam)
        seconds = time.perf_counter() - start
        outputs.append(hyps)
        rows.append({"system": name, "spec": str(spec), "beam": beam, "models": models,
                     "cost": models * beam, "seconds": round(seconds, 1)})
        print(f"{name}: translated in {seconds:.0f} s", flush=True)
    tests = paired_test(outputs, [test.tgt])
    for row, test_row in zip(rows, tests):
        row["bleu"] = round(test_row["bleu"]["score"], 2)
        row["p_value"] = test_row["bleu"]["p_value"]
        row["difference"] = test_row["bleu"]["difference"]
    figures = {"rows": rows, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "test_set": TEST_SPLIT}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def speed(args) -> None:
    """Sentences per second of the single model and the ensemble (int8, beam `--beam`),
    alternated over `--rounds`; the median ratio."""
    import statistics

    test = read_split(args.data, TEST_SPLIT, "de", "en")
    run, other = Path(args.run), Path(args.other)
    arms = {"single": Translator.from_checkpoint(str(run / "best.pt"), threads=args.threads,
                                                 int8=True, calibrate=False),
            "ensemble": Translator.from_checkpoint(f"{run / 'best.pt'}+{other / 'best.pt'}",
                                                   threads=args.threads, int8=True,
                                                   calibrate=False)}
    rates = alternated_rates(arms, test.src, args.beam, args.rounds)
    ratios = [e / s for e, s in zip(rates["ensemble"], rates["single"])]
    figures = {"sentences_per_s": rates, "ensemble_over_single": ratios,
               "median_ratio": statistics.median(ratios), "beam": args.beam,
               "threads": args.threads, "precision": "int8",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
