"""LibreTranslate's `POST /translate` through the whole system on loopback (web_load's set-up,
rate limit off): the first request once `/healthz` says the models are ready (at once for a
release without that field), p50/p95 of `--sequential` one-sentence requests one after another
on an idle server, then `--requests` one-sentence requests from `--clients` concurrent clients
(throughput, p50/p95, errors), then a 1,000-sentence document through the JSON API alone
(sentences/s) and `--sequential` one-sentence requests while a 6,000-sentence document is
being translated (p50/p95), and as its baseline the same sentences decoded in-process
(batched, beam 5, 2 threads, the workers' precision) before the system starts and after it
stopped (the ratio uses their mean: this VM's speed drifts within minutes). With
`--old REV`, the same against the code of an older commit (`git archive`, its own web,
workers and translator), alternated round by round.

    python benchmarks/libre_latency.py --checkpoint runs/quick/best.pt [--old REV --rounds 2]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    return {"p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1)}


def wait_until_ready(base: str, timeout: float = 120) -> float | None:
    """Seconds until /healthz says the models are warm (None: it does not say)."""
    import urllib.request

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with urllib.request.urlopen(f"{base}/healthz") as response:
            health = json.load(response)
        if "models" not in health:
            return None
        if health["models"] != "loading":
            return round(time.monotonic() - started, 2)
        time.sleep(0.05)
    raise RuntimeError("the models did not get ready")


def in_process_speed(checkpoint: str, sentences: list[str]) -> dict:
    """The same sentences decoded in one process, batched, beam 5, 2 threads, at the
    workers' precision (PRECISION, DEVICE): the baseline of the web figure, in the same run."""
    from translator import Translator
    from worker.settings import Settings

    settings = Settings.from_env(dotenv=None)
    # A release before PRECISION decodes fp32 on the CPU.
    precision = settings.decode_precision() if hasattr(settings, "decode_precision") else "fp32"
    translator = Translator.from_checkpoint(checkpoint, device=getattr(settings, "device", "cpu"),
                                            threads=2,
                                            int8=precision == "int8", bf16=precision == "bf16")
    translator.translate(sentences[:50])  # warm
    started = time.perf_counter()
    translator.translate(sentences)
    seconds = time.perf_counter() - started
    return {"sentences_per_second": round(len(sentences) / seconds, 1),
            "precision": precision, "device": getattr(settings, "device", "cpu")}


def measure(args) -> dict:
    from web_load import follow, get, post, start_system

    from translator.data.corpus import read_split
    from worker.redis_server import EmbeddedRedis

    src_lang, tgt_lang = args.pair.split("-")
    sentences = read_split(args.data, "test_2016_flickr", src_lang, tgt_lang).src
    train = read_split(args.data, "train", src_lang, tgt_lang).src
    batch = [sentences[i % len(sentences)] for i in range(args.requests)]
    before = in_process_speed(args.checkpoint, batch)
    state = Path(tempfile.mkdtemp(prefix="libre_latency_"))
    with EmbeddedRedis(state) as redis_server:
        supervisor, base = start_system(redis_server, state, args.checkpoint, args.pair, None)
        try:
            def one(q: str) -> tuple[int, float]:
                started = time.perf_counter()
                status, _, _ = post(f"{base}/translate",
                                    {"q": q, "source": src_lang, "target": tgt_lang})
                return status, 1000 * (time.perf_counter() - started)

            ready_after = wait_until_ready(base)
            first = one(sentences[0])
            sequential = [one(s) for s in sentences[20: 20 + args.sequential]]
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                concurrent = list(pool.map(one, batch))
            seconds = time.perf_counter() - started
            started = time.perf_counter()  # a document alone
            doc = post(f"{base}/api/v1/documents",
                       {"text": "\n".join(sentences) + "\n", "pair": args.pair})[1]
            document_status = follow(base, doc["id"])["status"]
            document_seconds = time.perf_counter() - started
            big = post(f"{base}/api/v1/documents",  # requests while a large one runs
                       {"text": "\n".join(train[:6000]) + "\n", "pair": args.pair})[1]
            while get(f"{base}/api/v1/jobs/{big['id']}")["done"] == 0:
                time.sleep(0.05)
            during = [one(s) for s in sentences[200: 200 + args.sequential]]
            big_job = get(f"{base}/api/v1/jobs/{big['id']}")
            post(f"{base}/api/v1/jobs/{big['id']}/cancel", {})
        finally:
            supervisor.stop()
    after = in_process_speed(args.checkpoint, batch)
    in_process = {**after, "sentences_per_second": round(
        (before["sentences_per_second"] + after["sentences_per_second"]) / 2, 1),
        "before_and_after": [before["sentences_per_second"], after["sentences_per_second"]]}
    return {"in_process": in_process, "text_processes": os.environ.get("TEXT_PROCESSES"),
            "web_over_in_process": round(len(batch) / seconds
                                         / in_process["sentences_per_second"], 3),
            "first_request": {"ms": round(first[1], 1), "status": first[0],
                              "models_ready_after_s": ready_after},
            "sequential": {**percentiles([ms for _, ms in sequential]),
                           "errors": sum(s != 200 for s, _ in sequential)},
            "concurrent": {**percentiles([ms for _, ms in concurrent]),
                           "requests_per_second": round(len(batch) / seconds, 1),
                           "errors": sum(s != 200 for s, _ in concurrent),
                           "clients": args.clients, "requests": len(batch)},
            "document": {"sentences": len(sentences), "seconds": round(document_seconds, 2),
                         "sentences_per_second": round(len(sentences) / document_seconds, 1),
                         "status": document_status},
            "during_document": {**percentiles([ms for _, ms in during]),
                                "errors": sum(s != 200 for s, _ in during),
                                "document_still_running": big_job["status"] == "running",
                                "document_done": f"{big_job['done']}/{big_job['total']}"}}


def run_tree(tree: Path, args, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, str(tree / "benchmarks" / "libre_latency.py"),
                    "--checkpoint", str(Path(args.checkpoint).resolve()), "--pair", args.pair,
                    "--data", str(Path(args.data).resolve()), "--sequential",
                    str(args.sequential), "--requests", str(args.requests), "--clients",
                    str(args.clients), "--json", str(out),
                    *(["--web-threads", str(args.web_threads)] if args.web_threads else [])],
                   cwd=tree, env=env, check=True)
    return json.loads(out.read_text())


def main() -> None:
    from web_load import system_arguments

    p = system_arguments(__doc__)
    p.add_argument("--sequential", type=int, default=100)
    p.add_argument("--requests", type=int, default=600)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--web-threads", type=int, help="WEB_THREADS of the web app (default: "
                                                   "the setting's)")
    p.add_argument("--text-processes", type=int, help="TEXT_PROCESSES of `translator serve` "
                                                      "(default: the setting's)")
    p.add_argument("--old", help="also measure this older commit, alternating")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    if args.web_threads:
        os.environ["WEB_THREADS"] = str(args.web_threads)
    if args.text_processes:
        os.environ["TEXT_PROCESSES"] = str(args.text_processes)
    if not args.old:
        results = measure(args)
    else:
        from compare_commits import unpack  # (here: an old tree's client runs measure() only)

        tmp = Path(tempfile.mkdtemp(prefix="libre_latency_trees_"))
        # the old server code, measured by this client
        old = unpack(args.old, tmp / "old", clients=("libre_latency.py", "web_load.py"))
        trees = {"old": old, "new": HERE.parent}
        results = {"old_commit": args.old, "old": [], "new": []}
        for round_ in range(args.rounds):
            for name in (("old", "new") if round_ % 2 == 0 else ("new", "old")):
                results[name].append(run_tree(trees[name], args, tmp / f"{name}{round_}.json"))
                print(name, json.dumps(results[name][-1]), flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
