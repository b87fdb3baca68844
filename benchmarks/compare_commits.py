"""The worker's figures of two commits in one run: `benchmarks/worker_load.py` of an older
commit (unpacked from this repository's history with `git archive`, its own code for the
client and the workers) and of the working tree, alternated round by round (old first in odd
rounds, new first in even ones, so a drift in the machine's speed hits both alike); then the
median over rounds of each figure's new/old ratio.

    python benchmarks/compare_commits.py --old 1fe94ba --rounds 3 \\
        --checkpoint runs/quick/best.pt [--json F] [-- worker_load options]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from translator.defaults import MULTI30K_DIR

ROOT = Path(__file__).resolve().parent.parent

# (name, path in worker_load's JSON, True when higher is better)
FIGURES = [
    ("overhead 2x1 (in-process / worker speed)", ("overhead", "2x1", "ratio"), True),
    ("overhead 1x2 (in-process / worker speed)", ("overhead", "1x2", "ratio"), True),
    ("micro-batching speed-up", ("micro_batching", "ratio"), True),
    ("interactive latency p50 (ms)", ("interactive_latency", "p50_ms"), False),
    ("interactive latency p95 (ms)", ("interactive_latency", "p95_ms"), False),
    ("load: 600 jobs (s)", ("load", "seconds"), False),
]


def unpack(commit: str, directory: Path, clients: tuple[str, ...] = ()) -> Path:
    """`commit`'s code (git archive) in `directory`; `clients` are benchmark scripts copied in
    from this tree, so both arms are measured by the same client."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit,
                              "benchmarks", "translator", "worker", "web"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    for name in clients:
        shutil.copy(ROOT / "benchmarks" / name, directory / "benchmarks" / name)
    return directory


def run(tree: Path, args: list[str], out: Path) -> dict:
    """One run of `tree`'s worker_load.py, from `tree` (its workers import its code)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run([sys.executable, str(tree / "benchmarks" / "worker_load.py"), *args,
                    "--json", str(out)], cwd=tree, env=env, check=True)
    print(f"  ({tree.name}: {time.perf_counter() - started:.0f} s)", flush=True)
    return json.loads(out.read_text())


def figure(results: dict, path: tuple[str, ...]) -> float | None:
    value = results
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--old", required=True, help="the older commit")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--json", help="also write every run's figures and the ratios here")
    args, rest = p.parse_known_args()
    rest = [a for a in rest if a != "--"]
    common = ["--checkpoint", str(Path(args.checkpoint).resolve()),
              "--data", str(Path(args.data).resolve()), *rest]
    tmp = Path(tempfile.mkdtemp(prefix="compare_commits_"))
    trees = {"old": unpack(args.old, tmp / "old"), "new": ROOT}
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for round_ in range(args.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        print(f"round {round_ + 1}/{args.rounds}: {' then '.join(order)}", flush=True)
        for name in order:
            runs[name].append(run(trees[name], common, tmp / f"{name}{round_}.json"))
    table = []
    for label, path, higher in FIGURES:
        old = [figure(r, path) for r in runs["old"]]
        new = [figure(r, path) for r in runs["new"]]
        if None in old or None in new:
            continue
        ratios = [n / o for n, o in zip(new, old)]
        table.append({"figure": label, "old": old, "new": new, "ratios": ratios,
                      "median_ratio": statistics.median(ratios), "higher_is_better": higher})
    print(f"\n{'figure':44} {'old (median)':>13} {'new (median)':>13} {'new/old (median)':>17}")
    for row in table:
        print(f"{row['figure']:44} {statistics.median(row['old']):13.2f} "
              f"{statistics.median(row['new']):13.2f} {row['median_ratio']:17.3f}   "
              f"(per round: {', '.join(f'{r:.3f}' for r in row['ratios'])})")
    same = all(r["load"].get("identical_documents") == r["load"].get("documents")
               for r in runs["old"] + runs["new"] if "load" in r)
    print(f"outputs identical to in-process translation in every load run: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps({"old": args.old, "runs": runs, "figures": table},
                                              indent=2))


if __name__ == "__main__":
    main()
