"""`source=auto` against a given source: LibreTranslate `POST /translate` one-sentence
requests on the README's set-up (web_load's: a private redis-server, the default workers and
the web under gunicorn with its language detector, rate limit off) while a 6,000-sentence
document is being translated; requests alternate `source=auto` and `source=de` (the same
test_2016_flickr sentences in both arms), so both see the same load. p50/p95 of each and the
difference of the p50s; every auto answer's detected language is checked.

    python benchmarks/auto_latency.py --checkpoint runs/quick/best.pt [--requests 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {"p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1)}


def main() -> None:
    from libre_latency import wait_until_ready
    from web_load import get, post, start_system

    from translator.data.corpus import read_split
    from translator.defaults import MULTI30K_DIR
    from worker.redis_server import EmbeddedRedis

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--pair", default="de-en")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--requests", type=int, default=100, help="per arm")
    p.add_argument("--json")
    args = p.parse_args()
    src, tgt = args.pair.split("-")
    sentences = read_split(args.data, "test_2016_flickr", src, tgt).src
    train = read_split(args.data, "train", src, tgt).src
    state = Path(tempfile.mkdtemp(prefix="auto_latency_"))
    times: dict[str, list[float]] = {"auto": [], src: []}
    wrong, errors = 0, 0
    with EmbeddedRedis(state) as redis_server:
        supervisor, base = start_system(redis_server, state, args.checkpoint, args.pair, None)
        try:
            wait_until_ready(base)
            post(f"{base}/translate", {"q": sentences[0], "source": "auto", "target": tgt})
            big = post(f"{base}/api/v1/documents",
                       {"text": "\n".join(train[:6000]) + "\n", "pair": args.pair})[1]
            while get(f"{base}/api/v1/jobs/{big['id']}")["done"] == 0:
                time.sleep(0.05)
            for i in range(args.requests):
                for arm in ("auto", src) if i % 2 == 0 else (src, "auto"):
                    started = time.perf_counter()
                    status, body, _ = post(f"{base}/translate", {
                        "q": sentences[300 + i], "source": arm, "target": tgt})
                    times[arm].append(1000 * (time.perf_counter() - started))
                    errors += status != 200
                    if arm == "auto" and status == 200:
                        wrong += body["detectedLanguage"]["language"] != src
            big_job = get(f"{base}/api/v1/jobs/{big['id']}")
            post(f"{base}/api/v1/jobs/{big['id']}/cancel", {})
        finally:
            supervisor.stop()
    out = {"pair": args.pair, "requests_per_arm": args.requests,
           "auto": percentiles(times["auto"]), "given": percentiles(times[src]),
           "errors": errors, "auto_detected_wrong": wrong,
           "document_still_running": big_job["status"] == "running",
           "document_done": f"{big_job['done']}/{big_job['total']}",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out["p50_difference_ms"] = round(out["auto"]["p50_ms"] - out["given"]["p50_ms"], 1)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
