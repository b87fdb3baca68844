"""How often a two-rank torchrun training exits 0 (issue 27: rank 1 was sometimes aborted at the
end, `terminate called without an active exception`, after a run that had succeeded).

    python benchmarks/ddp_exit.py [--runs 20] [--steps 20] [--work /tmp/ddp_exit] [--json FILE]

Each run is, on a tiny synthetic task (written once into WORK/corpus: 3..8 words, the target
the same words reversed), the command a user types:

    torchrun --standalone --nproc-per-node 2 -m translator train --data WORK/corpus \\
        --src xx --tgt yy --preset tiny --config WORK/end.yaml --max-steps 20 --threads 1 -q \\
        --out WORK/runs/N

with everything rank 0 does after the last update switched on (end.yaml: periodic checkpoints
to average, validation for the calibration, then the plot, the test-set score at beam 5 and
summary.json), so that the other rank is done seconds before rank 0. Prints each run's exit
code and seconds, then the count of each exit code; a failed run's stderr is kept in
WORK/runs/N.stderr. Exits 1 unless every run exited 0 and wrote summary.json. The tree under
test is the one `python -m translator` imports: this checkout, or $PYTHONPATH when set.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

SRC, TGT = "xx", "yy"
WORDS = ["red", "blue", "cat", "dog", "sun", "moon", "tree", "fish", "bird", "star", "rock",
         "leaf"]
SPLITS = {"train": 3000, "val": 100, "test_2016_flickr": 100}
END_CONFIG = "train: {log_every: 5, eval_every: 5, save_every: 5, average_last: 2}\n"
ROOT = Path(__file__).resolve().parent.parent


def write_corpus(directory: Path, seed: int = 0) -> None:
    """The reverse-the-words task in the Multi30K layout ({split}.xx / {split}.yy)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in SPLITS.items():
        pairs = []
        for _ in range(n):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
            pairs.append((" ".join(words), " ".join(reversed(words))))
        (directory / f"{split}.{SRC}").write_text("".join(s + "\n" for s, _ in pairs))
        (directory / f"{split}.{TGT}").write_text("".join(t + "\n" for _, t in pairs))


def command(work: Path, out: Path, steps: int) -> list[str]:
    # `python -m torch.distributed.run` is the torchrun command, from this interpreter
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", "-m", "translator", "train", "--data", str(work / "corpus"), "--src", SRC,
            "--tgt", TGT, "--preset", "tiny", "--config", str(work / "end.yaml"),
            "--max-steps", str(steps), "--threads", "1", "-q", "--out", str(out)]


def run_once(work: Path, index: int, steps: int, timeout: float) -> dict:
    """One training under torchrun into a fresh WORK/runs/INDEX: its exit code and seconds."""
    out = work / "runs" / str(index)
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSLATOR_CACHE": str(work / "cache"),
           "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)}
    start = time.perf_counter()
    try:
        done = subprocess.run(command(work, out, steps), cwd=work, env=env, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as timed_out:
        code, stderr = "timeout", str(timed_out.stderr or "")
    result = {"run": index, "exit": code, "seconds": round(time.perf_counter() - start, 1),
              "summary": (out / "summary.json").is_file(),
              "aborted": "terminate called" in stderr}
    if code != 0 or not result["summary"]:
        (work / "runs" / f"{index}.stderr").write_text(stderr)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ddp_exit"))
    ap.add_argument("--timeout", type=float, default=600, help="seconds one run may take")
    ap.add_argument("--json", type=Path, help="write the runs and the counts here")
    args = ap.parse_args()
    work = args.work.resolve()
    if not (work / "corpus" / f"train.{SRC}").is_file():
        write_corpus(work / "corpus")
    (work / "end.yaml").write_text(END_CONFIG)
    print(" ".join(command(work, work / "runs" / "N", args.steps)), flush=True)
    results = []
    for index in range(1, args.runs + 1):
        results.append(run_once(work, index, args.steps, args.timeout))
        print(json.dumps(results[-1]), flush=True)
    counts = collections.Counter(str(r["exit"]) for r in results)
    clean = sum(r["exit"] == 0 and r["summary"] for r in results)
    print(f"exit codes: {dict(counts)}; {clean} of {len(results)} runs exited 0 with "
          f"summary.json; {sum(r['aborted'] for r in results)} with 'terminate called'")
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "exit_codes": counts,
                                         "clean": clean}, indent=2))
    return 0 if clean == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
