"""Training on a corpus of millions of pairs: memory, encoding throughput, a second run's start.

    python benchmarks/large_corpus.py --pairs 5000000 --work /tmp/large_corpus \\
        [--json runs/large_corpus.json]

A synthetic corpus (written once into WORK, reused by later runs): sentences of 10-18 words
drawn from 30,000 made-up words, the target the words mapped one to one and reversed, so with
the base preset's 4,000 SentencePiece pieces a side holds about 25 subwords. Then, each as a
user types it, with the whole process tree's memory sampled every 0.2 s (PSS from
/proc/PID/smaps_rollup, so memory-mapped pages count and shared pages are not counted twice):

1. `translator prepare --prepare-processes 1` into an empty cache, then the same with 2
   processes into another (SentencePiece copied in, so both time the encoding alone): lines/s
   of each (source and target lines, from the entry's arrays.json);
2. `translator train --preset base --max-steps 100` on a third, empty cache (the first run:
   sampling, SentencePiece, encoding with the default processes, then 100 updates): peak PSS;
3. the same command again (the second run, from the cache): seconds from the command's start to
   its first training step (the step-1 line of metrics.jsonl), and peak PSS.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

SRC, TGT = "xx", "yy"
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["an", "en", "or", "ul", "is"]


def make_words(n: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def write_corpus(directory: Path, pairs: int, seed: int = 7) -> Path:
    """train (pairs), val and test_2016_flickr (100 each) of the synthetic task, plain text."""
    done = directory / "done.json"
    if done.exists() and json.loads(done.read_text()).get("pairs") == pairs:
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    src_words = make_words(30_000, rng)
    tgt_words = list(src_words)
    rng.shuffle(tgt_words)
    mapping = dict(zip(src_words, tgt_words))
    cumulative = list(itertools.accumulate(1 / (rank + 10)  # Zipf-like frequencies
                                           for rank in range(len(src_words))))
    for split, n in (("train", pairs), ("val", 100), ("test_2016_flickr", 100)):
        with open(directory / f"{split}.{SRC}", "w") as fs, \
                open(directory / f"{split}.{TGT}", "w") as ft:
            for _ in range(n):
                words = rng.choices(src_words, cum_weights=cumulative, k=rng.randint(10, 18))
                fs.write(" ".join(words).capitalize() + ".\n")
                ft.write(" ".join(mapping[w] for w in reversed(words)).capitalize() + ".\n")
    done.write_text(json.dumps({"pairs": pairs}))
    return directory


def tree_pss_kb(root: int) -> int:
    """PSS of `root` and all its descendants, in kB."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def run_measured(cmd: list[str], env: dict, first_step: Path | None = None) -> dict:
    """Run `cmd`, sampling its tree's PSS; with `first_step` (a metrics.jsonl), also the
    seconds until it holds a train record."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    peak, to_first = 0, None
    while proc.poll() is None:
        peak = max(peak, tree_pss_kb(proc.pid))
        if first_step is not None and to_first is None and first_step.exists() and \
                '"type": "train"' in first_step.read_text():
            to_first = time.perf_counter() - start
        time.sleep(0.2)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode})")
    return {"seconds": round(time.perf_counter() - start, 1), "peak_pss_mb": round(peak / 1024),
            "to_first_step_s": None if to_first is None else round(to_first, 2)}


def entry_meta(cache: Path) -> dict:
    (entry,) = (cache / "corpora").iterdir()
    return json.loads((entry / "arrays.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=5_000_000)
    p.add_argument("--work", default="/tmp/large_corpus")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--json")
    args = p.parse_args()
    work = Path(args.work)
    started = time.perf_counter()
    corpus = write_corpus(work / "corpus", args.pairs)
    print(f"corpus ready ({time.perf_counter() - started:.0f} s)", flush=True)
    tool = [sys.executable, "-m", "translator"]
    data = ["--data", str(corpus), "--src", SRC, "--tgt", TGT]
    figures: dict = {"pairs": args.pairs, "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                 time.gmtime())}

    caches = {name: work / f"cache-{name}" for name in ("p1", "p2", "train")}
    for cache in caches.values():
        shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    for name, processes in (("p1", 1), ("p2", 2)):
        if name == "p2":  # the same SentencePiece: time the encoding alone
            shutil.copytree(caches["p1"] / "spm", caches["p2"] / "spm")
        run = run_measured([*tool, "prepare", *data, "-q", "--cache-dir", str(caches[name]),
                            "--prepare-processes", str(processes)], env)
        meta = entry_meta(caches[name])
        run["encode_seconds"] = meta["seconds"]
        run["lines_per_s"] = round(2 * args.pairs / meta["seconds"])
        run["token_bytes"] = os.path.getsize(next((caches[name] / "corpora").iterdir())
                                             / "src.tokens")
        run["src_tokens_per_pair"] = round(meta["src_tokens"] / meta["pairs"], 1)
        figures[f"prepare_{processes}_process"] = run
        print(name, run, flush=True)

    config = work / "train.yaml"
    config.write_text("train: {eval_every: 0, save_every: 0, average_last: 0, log_every: 10, "
                      "eval_max_sentences: 100}\n")
    for name in ("first_run", "second_run"):
        out = work / f"run-{name}"
        shutil.rmtree(out, ignore_errors=True)
        run = run_measured([*tool, "train", *data, "--preset", "base", "--config", str(config),
                            "--out", str(out), "--max-steps", str(args.steps), "--no-test",
                            "-q", "--cache-dir", str(caches["train"])], env,
                           first_step=out / "metrics.jsonl")
        figures[name] = run
        print(name, run, flush=True)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
