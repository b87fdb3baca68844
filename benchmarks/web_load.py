"""Load through the whole system on loopback: a private redis-server, the default workers and
the web app under gunicorn, driven by a bounded load generator over HTTP.

1. load: N concurrent API requests (a mix of one-sentence text jobs and 20-sentence document
   jobs) from a pool of client threads; every job is then followed to its end. Reports the
   HTTP answers (0 5xx wanted), lost jobs (0 wanted), p50/p95/p99 of the submit latency and of
   the submit-to-done latency, and the throughput;
2. memory: the resident memory of the worker processes before and after M more jobs.

    python benchmarks/web_load.py --checkpoint runs/base60/best.pt [--requests 200] [--jobs 1000]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import socket
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from translator.data.corpus import read_split
from translator.defaults import MULTI30K_DIR
from worker.celery_app import make_app
from worker.redis_server import EmbeddedRedis, free_port
from worker.serve import start_workers, wait_for_workers, web_command
from worker.settings import Settings

ROOT = Path(__file__).resolve().parent.parent  # on the workers' PYTHONPATH (a checkout's code)


def post(url: str, body: dict) -> tuple[int, dict, float]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r), time.perf_counter() - start
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), time.perf_counter() - start


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def follow(base: str, job_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(f"{base}/api/v1/jobs/{job_id}")
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise TimeoutError(job_id)


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and all their descendants, in MB."""
    total, todo, seen = 0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            todo += [int(p) for p in
                     Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            pass
    return total / 1024


def system_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every whole-system benchmark takes: --checkpoint, --pair, --data."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--pair", default="de-en")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    return p


def start_system(redis_server: EmbeddedRedis, state: Path, checkpoint: str, pair: str,
                 warm_up: list[str] | None):
    """The default `translator serve` set-up on `redis_server` (rate limit off): the workers
    and the web under gunicorn, warmed up with a text and a document job (not if `warm_up` is
    None). Returns (supervisor, base URL); the caller stops the supervisor."""
    env = {**os.environ, "REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT),
           "MODELS": f"{pair}={checkpoint}", "RATE_LIMIT": "", "SECRET_KEY": "load",
           "STATE_DIR": str(state)}
    settings = Settings.from_env(env, dotenv=None)
    # The default torch threads (None) of TEXT_PROCESSES workers; 2 for an older release's one.
    threads = inspect.signature(start_workers).parameters["text_torch_threads"].default
    supervisor = start_workers(settings, env, 64, 1, threads, 10, "WARNING", state)
    port = free_port()
    try:
        web = web_command("127.0.0.1", port, settings)
    except TypeError:  # the web_command(host, port) of a release before WEB_THREADS
        web = web_command("127.0.0.1", port)
    supervisor.add("web", web, env, log=state / "web.log")
    base = f"http://127.0.0.1:{port}"
    wait_for_workers(make_app(settings), procs=supervisor.procs)
    deadline = time.monotonic() + 60
    while True:  # the web app answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web app did not start; logs in {state}") from None
            time.sleep(0.2)
    if warm_up is not None:
        follow(base, post(f"{base}/api/v1/translate", {"text": warm_up[0],
                                                       "pair": pair})[1]["id"])
        follow(base, post(f"{base}/api/v1/documents",
                          {"text": "\n".join(warm_up), "pair": pair})[1]["id"])
    return supervisor, base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--pair", default="de-en")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=50, help="client threads (bounded load)")
    p.add_argument("--jobs", type=int, default=1000, help="jobs for the memory phase")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    src, tgt = args.pair.split("-")
    train = read_split(args.data, "train", src, tgt).src
    state = Path(tempfile.mkdtemp(prefix="web_load_"))
    results: dict = {"checkpoint": args.checkpoint, "requests": args.requests}
    with EmbeddedRedis(state) as redis_server:
        supervisor, base = start_system(redis_server, state, args.checkpoint, args.pair,
                                        train[:20])

        # 1. Load.
        rng = random.Random(0)
        requests = []
        for i in range(args.requests):
            if i % 4 == 3:
                start = rng.randrange(len(train) - 20)
                requests.append(("/api/v1/documents",
                                 {"text": "\n".join(train[start:start + 20]), "pair": args.pair}))
            else:
                requests.append(("/api/v1/translate",
                                 {"text": rng.choice(train), "pair": args.pair}))

        def one(item):
            path, body = item
            t0 = time.perf_counter()
            status, answer, submit = post(base + path, body)
            if status != 202:
                return status, submit, None, None
            job = follow(base, answer["id"])
            return status, submit, time.perf_counter() - t0, job["status"]

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            outcomes = list(pool.map(one, requests))
        seconds = time.perf_counter() - t0
        statuses = [o[0] for o in outcomes]
        submit = [o[1] for o in outcomes]
        total = [o[2] for o in outcomes if o[2] is not None]
        done = sum(o[3] == "done" for o in outcomes)
        load = {
            "requests": len(requests), "client_threads": args.clients,
            "http_5xx": sum(s >= 500 for s in statuses),
            "http_status": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "jobs_done": done, "lost": len(requests) - done, "seconds": seconds,
            "jobs_per_s": len(requests) / seconds,
            "submit_ms": {"p50": pct(submit, 50), "p95": pct(submit, 95), "p99": pct(submit, 99)},
            "done_ms": {"p50": pct(total, 50), "p95": pct(total, 95), "p99": pct(total, 99)},
        }
        results["load"] = load
        print(f"load: {len(requests)} requests from {args.clients} clients in {seconds:.1f} s "
              f"({load['jobs_per_s']:.1f} jobs/s); HTTP {load['http_status']}; "
              f"{done} done, {load['lost']} lost", flush=True)
        print(f"  submit latency p50/p95/p99: {load['submit_ms']['p50']:.0f} / "
              f"{load['submit_ms']['p95']:.0f} / {load['submit_ms']['p99']:.0f} ms", flush=True)
        print(f"  submit-to-done p50/p95/p99: {load['done_ms']['p50']:.0f} / "
              f"{load['done_ms']['p95']:.0f} / {load['done_ms']['p99']:.0f} ms", flush=True)

        # 2. Memory over many jobs.
        pids = [supervisor.procs["text"].pid, supervisor.procs["docs"].pid]
        before = rss_mb(pids)
        texts = [train[i % len(train)] for i in range(5000, 5000 + args.jobs)]

        def text_job(t):
            status, answer, _ = post(f"{base}/api/v1/translate", {"text": t, "pair": args.pair})
            return follow(base, answer["id"])["status"] if status == 202 else str(status)

        with ThreadPoolExecutor(args.clients) as pool:
            ends = list(pool.map(text_job, texts))
        after = rss_mb(pids)
        results["memory"] = {"jobs": len(texts), "done": ends.count("done"),
                             "rss_before_mb": before, "rss_after_mb": after}
        print(f"memory: worker RSS {before:.0f} MB before, {after:.0f} MB after {len(texts)} "
              f"more jobs ({ends.count('done')} done)", flush=True)
        supervisor.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
