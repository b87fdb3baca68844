"""How much a training budget's outcome depends on the seed: each configuration trained with
several seeds for the same updates (De->En by default), validation BLEU at every evaluation,
then per configuration the mean, the spread and the runs that stalled.

    python benchmarks/seeds.py --updates 600 --seeds 1234,1235,1236,1237 \\
        --arm base= --arm scale4=benchmarks/configs/emb_scale4.yaml \\
        --work runs/exp/seeds --parallel 2 --json runs/exp/seeds.json

Each run is `translator train --preset base [--config CFG] --seed S --max-steps U --threads 1`
into WORK/ARM-S (resumed from its last.pt when interrupted; finished runs are kept), at most
`--parallel` at once, one thread each (stop: SIGINT or SIGTERM to this script). A run
"stalls" when its last validation BLEU is below half the best run's of all arms (the failure
mode this measures: a model that has not learnt to read its source by then, translating from
the target side's language model alone).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from translator.defaults import MULTI30K_DIR


def command(args, arm: str, config: str, seed: int, out: Path) -> list[str]:
    resume = ["--resume"] if (out / "last.pt").is_file() else []
    return [sys.executable, "-m", "translator", "train", "--data", args.data, "--src", args.src,
            "--tgt", args.tgt, "--out", str(out), "--max-steps", str(args.updates),
            "--threads", "1", "--no-test", "-q", "--preset", args.preset, "--seed", str(seed),
            *(["--config", config] if config else []), *resume]


def train(args, arms: dict[str, str], seeds: list[int]) -> None:
    """Run the missing runs, `--parallel` at once. SIGINT or SIGTERM to this script (also when
    it was started in the background, which ignores SIGINT) stops it: each running run saves
    its last.pt, nothing new starts, and the same command later resumes."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    queue = [(arm, config, seed) for seed in seeds for arm, config in arms.items()]
    started: dict[Path, subprocess.Popen] = {}
    try:
        for arm, config, seed in queue:
            out = Path(args.work) / f"{arm}-{seed}"
            if (out / "summary.json").is_file():
                continue
            while sum(p.poll() is None for p in started.values()) >= args.parallel:
                time.sleep(5)
            print(f"training {out}", flush=True)
            started[out] = subprocess.Popen(command(args, arm, config, seed, out))
    except KeyboardInterrupt:
        for p in started.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # the trainer saves last.pt, then exits
    failed = [str(out) for out, p in started.items() if _wait(p) != 0]
    if failed:  # 130: interrupted, resumable by the same command
        sys.exit(f"runs that did not finish: {', '.join(failed)}; the same command resumes")


def _wait(process: subprocess.Popen) -> int:
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # stopped while waiting: the run saves its last.pt first
            process.send_signal(signal.SIGINT)


def report(args, arms: dict[str, str], seeds: list[int]) -> dict:
    curves: dict[str, dict[int, list]] = {}
    for arm in arms:
        for seed in seeds:
            path = Path(args.work) / f"{arm}-{seed}" / "metrics.jsonl"
            if path.is_file():
                curves.setdefault(arm, {})[seed] = [
                    (r["step"], round(r["bleu"], 2)) for r in map(json.loads, path.open())
                    if r.get("type") == "valid"]
    finals = {arm: {seed: c[-1][1] for seed, c in runs.items() if c}
              for arm, runs in curves.items()}
    best = max((v for runs in finals.values() for v in runs.values()), default=0.0)
    summary = {arm: {"last_val_bleu": runs, "mean": round(statistics.mean(runs.values()), 2),
                     "stdev": round(statistics.stdev(runs.values()), 2) if len(runs) > 1 else 0,
                     "stalled": sorted(s for s, v in runs.items() if v < best / 2)}
               for arm, runs in finals.items() if runs}
    return {"updates": args.updates, "pair": f"{args.src}-{args.tgt}", "arms": arms,
            "curves": curves, "summary": summary,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arm", action="append", required=True, metavar="NAME=CONFIG",
                   help="a configuration (NAME= for the preset alone)")
    p.add_argument("--seeds", default="1234,1235,1236,1237")
    p.add_argument("--updates", type=int, default=600)
    p.add_argument("--work", required=True)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--preset", default="base")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    arms = dict(a.partition("=")[::2] for a in args.arm)
    seeds = [int(s) for s in args.seeds.split(",")]
    if not args.report_only:
        train(args, arms, seeds)
    figures = report(args, arms, seeds)
    print(json.dumps(figures["summary"], indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
