"""Multi30K training of two commits compared in one run: an older commit (unpacked from this
repository's history with `git archive`) against the working tree.

    # tokens/s: base-preset runs of one epoch (182 updates of Multi30K de-en) alternated
    # old/new, new/old, ...; the median new/old ratio
    python benchmarks/train_commits.py speed --old 7e62011 --rounds 3 --steps 182
    # test BLEU: both trained at once for the same minutes (one thread each, so neither has the
    # machine to itself), then beam-5 test BLEU and sacreBLEU's paired bootstrap
    python benchmarks/train_commits.py bleu --old 7e62011 --minutes 30
    # the same at equal updates (a budget that means the same on a slower day): each arm's
    # schedule then spans these updates, as a time budget's does the updates it reaches
    python benchmarks/train_commits.py bleu --old 7e62011 --updates 550
    # a run longer than a session: both arms pinned to commits and kept in --work, so the same
    # command later resumes each arm from its last.pt (the schedule and the data order carry on)
    python benchmarks/train_commits.py bleu --old 8145e12 --new cc23419 --updates 7000 \
        --work runs/exp/u7000

Each run trains `translator train --preset base` as a user would (`python -m translator` in the
commit's tree); the new code's corpus cache is a fresh temporary directory, so its first run
prepares the corpus as a first run does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compare_commits import unpack

from translator.defaults import MULTI30K_DIR, TEST_SPLIT

ROOT = Path(__file__).resolve().parent.parent


def train_command(tree: Path, out: Path, args, *extra: str) -> list[str]:
    return [sys.executable, "-m", "translator", "train", "--data", str(Path(args.data).resolve()),
            "--src", args.src, "--tgt", args.tgt, "--out", str(out), "-q", *extra]


def environment(tree: Path, cache: Path, threads: int) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree), "TRANSLATOR_CACHE": str(cache),
            "OMP_NUM_THREADS": str(threads)}


def tokens_per_second(run: Path, skip_steps: int) -> float:
    """Tokens over seconds of the logged windows after `skip_steps` (each window's tokens/s
    times its training seconds): with a whole epoch of steps, both commits see the same
    batches (the cut of the sorted lengths), only in another order."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    windows = [(b["tokens_per_s"], b["elapsed"] - a["elapsed"]) for a, b in zip(train, train[1:])
               if a["step"] >= skip_steps]
    return sum(speed * seconds for speed, seconds in windows) / sum(s for _, s in windows)


def speed(args, trees: dict[str, Path], work: Path) -> dict:
    config = work / "speed.yaml"  # log often, validate only at the end, no averaging
    config.write_text("train: {log_every: 10, eval_every: 0, save_every: 0, average_last: 0, "
                      "eval_max_sentences: 100}\n")
    rows: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for arm in (("old", "new") if r % 2 == 0 else ("new", "old")):
            out = work / f"speed-{arm}-{r}"
            cmd = train_command(trees[arm], out, args, "--max-steps", str(args.steps),
                                "--threads", str(args.threads), "--no-test", "--config",
                                str(config))
            subprocess.run(cmd, cwd=trees[arm], env=environment(trees[arm], work / "cache",
                                                                 args.threads), check=True,
                           stdout=subprocess.DEVNULL)
            rows[arm].append(tokens_per_second(out, skip_steps=10))
            print(f"round {r + 1} {arm}: {rows[arm][-1]:,.0f} tokens/s", flush=True)
    ratios = [n / o for n, o in zip(rows["new"], rows["old"])]
    return {"tokens_per_s": rows, "ratios": ratios, "median_ratio": statistics.median(ratios)}


def bleu(args, trees: dict[str, Path], work: Path) -> dict:
    procs, outs = {}, {}
    for arm in ("old", "new"):
        outs[arm] = work / f"bleu-{arm}"
        budget = (["--max-steps", str(args.updates)] if args.updates
                  else ["--max-minutes", str(args.minutes)])
        resume = ["--resume"] if (outs[arm] / "last.pt").exists() else []
        if (outs[arm] / "summary.json").exists():
            continue  # finished in an earlier session
        cmd = train_command(trees[arm], outs[arm], args, *budget, "--threads", "1", *resume)
        procs[arm] = subprocess.Popen(cmd, cwd=trees[arm], stdout=subprocess.DEVNULL,
                                      env=environment(trees[arm], work / "cache", 1))
    for arm, proc in procs.items():
        if proc.wait():
            raise SystemExit(f"{arm} training failed ({proc.returncode})")
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    from translator.data.corpus import read_split

    refs = read_split(args.data, TEST_SPLIT, args.src, args.tgt).tgt
    hyps = {arm: (outs[arm] / f"{TEST_SPLIT}.beam5.{args.tgt}").read_text().splitlines()
            for arm in outs}
    summaries = {arm: json.loads((outs[arm] / "summary.json").read_text()) for arm in outs}
    # sacreBLEU's paired bootstrap resampling (1,000 samples), the old code as the baseline
    test = PairedTest([("old", hyps["old"]), ("new", hyps["new"])], {"BLEU": BLEU()},
                      references=[refs], test_type="bs", n_samples=1000)
    _, scores = test()
    old, new = scores["BLEU"]
    result = {"old": old.score, "new": new.score, "p_value": new.p_value}
    if args.keep:
        for arm, out in outs.items():
            shutil.copytree(out, Path(args.keep) / arm, dirs_exist_ok=True)
    return {arm: {"steps": summaries[arm]["step"], "epochs": summaries[arm]["epoch"],
                  "bleu_beam5": summaries[arm][f"{TEST_SPLIT}_bleu_beam5"]} for arm in outs} | {
        "paired_bootstrap": result}


def tree(commit: str, directory: Path) -> Path:
    """`commit`'s code in `directory`, unpacked unless a lasting --work directory has it."""
    return directory if (directory / "translator").is_dir() else unpack(commit, directory)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["speed", "bleu"])
    p.add_argument("--old", required=True, help="the older commit")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--src", default="de")
    p.add_argument("--tgt", default="en")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=182)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--updates", type=int, default=0,
                   help="bleu: train each arm for this many updates instead of --minutes")
    p.add_argument("--new", help="the newer commit (default: the working tree)")
    p.add_argument("--work", help="bleu: a lasting work directory instead of a temporary one: "
                   "a rerun of the same command resumes unfinished arms")
    p.add_argument("--keep", help="bleu: copy both run directories here")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="train_commits-") as tmp:
        work = Path(args.work).resolve() if args.work else Path(tmp)
        trees = {"old": tree(args.old, work / "old"),
                 "new": tree(args.new, work / "new") if args.new else ROOT}
        start = time.time()
        figures = speed(args, trees, work) if args.mode == "speed" else bleu(args, trees, work)
        figures.update(mode=args.mode, old_commit=args.old, seconds=round(time.time() - start),
                       date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
