"""Memory of the interactive worker's models (worker/runtime.py `WorkerState`, the worker's
own code and precision: int8 on the CPU by default): a fresh process imports the worker and
torch, then loads the models of a `translator train-pairs` directory one by one and reports
its resident set (VmRSS) before any and after each, so the cost of each extra model reads
directly. Celery's own memory is the same with one model or six and is not part of it.

    python benchmarks/model_memory.py --models runs/models [--json F]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", required=True)
    p.add_argument("--precision", default="auto")
    p.add_argument("--json")
    args = p.parse_args()
    import torch  # noqa: F401 (counted in the baseline, as in a worker)

    from worker.runtime import WorkerState
    from worker.settings import Settings

    settings = Settings.from_env({"MODELS": args.models, "PRECISION": args.precision,
                                  "TORCH_THREADS": "1"}, dotenv=None)
    state = WorkerState(SimpleNamespace(settings=settings))
    rows = [{"models": 0, "rss_mb": rss_mb()}]
    for pair in sorted(settings.model_paths()):
        state.translator_for(pair).translate(["Warm up."], beam_size=5)  # as warm_up does
        rows.append({"models": len(rows), "pair": pair, "rss_mb": rss_mb()})
        print(json.dumps(rows[-1]), flush=True)
    steps = [b["rss_mb"] - a["rss_mb"] for a, b in zip(rows[1:], rows[2:])]
    out = {"precision": settings.decode_precision(), "rows": rows,
           "first_model_mb": round(rows[1]["rss_mb"] - rows[0]["rss_mb"], 1),
           "each_extra_model_mb": [round(s, 1) for s in steps],
           "max_extra_model_mb": round(max(steps), 1) if steps else None,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
