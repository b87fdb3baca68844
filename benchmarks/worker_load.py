"""The worker's figures, with a real redis-server and real Celery workers on this machine:

1. overhead: a 1,000-sentence document through Redis + a document worker vs `Translator`
   in-process on 2 threads, with the same threads in the worker: 2 processes x 1 thread, and
   1 process x 2 threads (no parallel chunks: the cost of the queue alone);
2. micro-batching: 200 one-sentence requests from 50 concurrent clients, with micro-batching
   (the default) against the same requests at the same concurrency with it off
   (BATCH_MAX_SEGMENTS=1: each request decoded alone);
3. interactive latency: one-sentence requests while a large document job runs, on the default
   `translator serve` set-up (1 interactive thread-pool worker, 1 document process, 1 torch
   thread each);
4. load: 100 document jobs and 500 text jobs submitted at once; all must complete with outputs
   identical to in-process translation.

Workers and the in-process baseline decode at the same precision: the workers' default
(`PRECISION=auto`: int8 on the CPU) unless --precision says otherwise. Only fp32 output is
expected to be identical line for line: int8's dynamic quantization scales activations per
batch, and the worker's batches (chunks, BATCH_TOKENS) are not the in-process ones.

    python benchmarks/worker_load.py --checkpoint runs/base60/best.pt [--data DIR] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import BEAM_SIZE, MULTI30K_DIR, TEST_SPLIT
from translator.inference.document import translate_document
from worker.celery_app import make_app
from worker.intake import Intake
from worker.redis_server import EmbeddedRedis
from worker.serve import start_workers, wait_for_workers
from worker.settings import Settings
from worker.store import JobStore

ROOT = Path(__file__).resolve().parent.parent

PAIR = "de-en"


class Workers:
    def __init__(self, env: dict, settings: Settings, log_dir: Path):
        self.env, self.settings, self.log_dir = env, settings, log_dir
        self.supervisor = None

    def start(self, app, text_threads: int = 32, doc_processes: int = 1,
              text_torch_threads: int = 2, docs_nice: int = 10) -> None:
        self.supervisor = start_workers(self.settings, self.env, text_threads, doc_processes,
                                        text_torch_threads, docs_nice, "WARNING", self.log_dir)
        wait_for_workers(app, procs=self.supervisor.procs)

    def stop(self) -> None:
        self.supervisor.stop()


def wait(store: JobStore, job_id: str, timeout: float = 600, poll: float = 0.002) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        if job.status in ("done", "failed", "cancelled"):
            return job
        time.sleep(poll)
    raise TimeoutError(job_id)


def warm_up(intake: Intake, sentences: list[str], doc_processes: int) -> None:
    """Load the model in every worker process before timing (one document per process)."""
    store = intake.store
    wait(store, intake.submit_text(sentences[0], PAIR).id)
    ids = [intake.submit_document("\n".join(sentences[:20]), PAIR).id
           for _ in range(doc_processes)]
    for i in ids:
        wait(store, i)


def concurrent_requests(intake: Intake, requests: list[str], clients: int) -> float:
    """Seconds until every request, each sent by one of `clients` threads that then follows
    its own job to the end (as a client of the API does), is translated."""
    def one(text: str) -> str:
        return wait(intake.store, intake.submit_text(text, PAIR).id, poll=0.01).status

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(one, requests))
    assert all(s == "done" for s in statuses), statuses
    return time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--beam", type=int, default=BEAM_SIZE)
    p.add_argument("--precision", choices=("fp32", "bf16", "int8"),
                   default=Settings.from_env({}, dotenv=None).decode_precision(),
                   help="decoding precision of the workers and of the in-process baseline "
                        "(default: the workers' own default, %(default)s)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--repeat", type=int, default=3,
                   help="overhead: alternating in-process / worker runs (medians compared)")
    p.add_argument("--skip", default="", help="comma-separated phases to skip")
    p.add_argument("--chunk-sentences", type=int, default=100,
                   help="sentences per document chunk (default %(default)s)")
    p.add_argument("--text-threads", type=int, default=64,
                   help="threads of the interactive worker (default %(default)s)")
    p.add_argument("--text-torch-threads", type=int, default=2,
                   help="torch threads of the interactive worker (default %(default)s)")
    args = p.parse_args()
    skip = set(args.skip.split(","))

    test = read_split(args.data, TEST_SPLIT, "de", "en")
    train = read_split(args.data, "train", "de", "en")
    sentences = test.src  # 1,000 sentences
    state = Path(tempfile.mkdtemp(prefix="worker_load_"))
    results: dict = {"checkpoint": args.checkpoint, "beam": args.beam,
                     "precision": args.precision, "torch": torch.__version__}
    with EmbeddedRedis(state) as redis_server:
        env = {**os.environ, "REDIS_URL": redis_server.url, "MODELS": f"{PAIR}={args.checkpoint}",
               "TORCH_THREADS": "1", "BEAM_SIZE": str(args.beam), "PYTHONPATH": str(ROOT),
               "PRECISION": args.precision,
               "CHUNK_SENTENCES": str(args.chunk_sentences)}
        settings = Settings.from_env(env, dotenv=None)
        app = make_app(settings)
        store = JobStore(settings)
        intake = Intake(store, app)
        workers = Workers(env, settings, state)
        local = Translator.from_checkpoint(args.checkpoint, threads=2,
                                           int8=args.precision == "int8",
                                           bf16=args.precision == "bf16")

        # 1. Overhead: one 1,000-sentence document, in-process (no worker running) and
        # through the workers, in alternation (--repeat rounds; the medians are compared, so
        # that a drift in the machine's speed during the run hits every arm alike). Two worker
        # arms with the in-process arm's 2 threads: 2 document processes x 1 torch thread
        # (chunks decoded in parallel) and 1 process x 2 threads (the queue's cost alone).
        if "overhead" not in skip:
            document = "\n".join(sentences) + "\n"
            local.translate(sentences[:50], beam_size=args.beam)
            two_threads = {**env, "TORCH_THREADS": "2"}
            arms = {"2x1": (Workers(env, settings, state), 2),
                    "1x2": (Workers(two_threads, Settings.from_env(two_threads, dotenv=None),
                                    state), 1)}
            in_process, queued = [], {name: [] for name in arms}
            same: dict[str, list[int]] = {name: [] for name in arms}  # identical lines per run
            for _ in range(args.repeat):
                start = time.perf_counter()
                expected = translate_document(local, document, lang="de", beam_size=args.beam)
                in_process.append(time.perf_counter() - start)
                for name, (arm, processes) in arms.items():
                    arm.start(app, text_threads=4, doc_processes=processes, docs_nice=0)
                    warm_up(intake, sentences, processes)
                    start = time.perf_counter()
                    job = wait(store, intake.submit_document(document, PAIR).id, poll=0.02)
                    queued[name].append(time.perf_counter() - start)
                    arm.stop()
                    got = store.get_result(job.id)["text"].splitlines()
                    same[name].append(sum(a == b for a, b in zip(got, expected.splitlines())))
            a = statistics.median(in_process)
            results["overhead"] = {"sentences": len(sentences), "in_process_s": in_process,
                                   "lines": len(sentences)}
            for name, times in queued.items():
                b = statistics.median(times)
                pairs = [x / y for x, y in zip(in_process, times)]
                results["overhead"][name] = {"worker_s": times, "ratio": a / b,
                                             "pair_ratios": pairs, "identical_lines": same[name]}
                processes, threads = name.split("x")
                print(f"overhead ({processes} document process(es) x {threads} torch "
                      f"thread(s)): in-process {len(sentences) / a:.1f} sent/s, through Redis + "
                      f"worker {len(sentences) / b:.1f} sent/s (medians of {args.repeat}): "
                      f"{a / b:.2f}x (pairs: {', '.join(f'{r:.2f}' for r in pairs)}; "
                      f"lines identical to in-process: {min(same[name])}/{len(sentences)})",
                      flush=True)

        # 2. Micro-batching at equal concurrency: 200 one-sentence requests from 50 client
        # threads, on the default set-up with micro-batching off (BATCH_MAX_SEGMENTS=1: each
        # request decoded alone) and on, alternating (--repeat rounds, medians compared).
        if "batching" not in skip:
            requests = train.src[:200]
            unbatched = {**env, "BATCH_MAX_SEGMENTS": "1"}
            arms = {"off": Workers(unbatched, Settings.from_env(unbatched, dotenv=None), state),
                    "on": workers}
            times: dict[str, list[float]] = {name: [] for name in arms}
            for _ in range(args.repeat):
                for name, arm in arms.items():
                    arm.start(app, text_threads=args.text_threads,
                              text_torch_threads=args.text_torch_threads)
                    warm_up(intake, sentences, 1)
                    times[name].append(concurrent_requests(intake, requests, clients=50))
                    arm.stop()
            off, on = statistics.median(times["off"]), statistics.median(times["on"])
            results["micro_batching"] = {"requests": len(requests), "clients": 50,
                                         "off_s": times["off"], "on_s": times["on"],
                                         "ratio": off / on}
            print(f"micro-batching at 50 concurrent clients: off {len(requests) / off:.1f} "
                  f"req/s, on {len(requests) / on:.1f} req/s: {off / on:.2f}x (medians of "
                  f"{args.repeat})", flush=True)

        # The default `translator serve` set-up from here on.
        workers.start(app, text_threads=args.text_threads,
                      text_torch_threads=args.text_torch_threads)
        warm_up(intake, sentences, 1)

        # 3. Interactive latency while a large document is translated.
        if "latency" not in skip:
            big = "\n".join(train.src[:6000]) + "\n"
            doc = intake.submit_document(big, PAIR)
            while store.get_job(doc.id).done == 0:
                time.sleep(0.01)
            latencies = []
            for s in train.src[1000:1100]:
                start = time.perf_counter()
                job = wait(store, intake.submit_text(s, PAIR).id)
                latencies.append(time.perf_counter() - start)
                assert job.status == "done"
            doc_state = store.get_job(doc.id)
            intake.cancel_job(doc.id)
            lat = {"requests": len(latencies), "p50_ms": 1000 * statistics.median(latencies),
                   "p95_ms": 1000 * percentile(latencies, 95),
                   "max_ms": 1000 * max(latencies),
                   "document_progress": f"{doc_state.done}/{doc_state.total}"}
            results["interactive_latency"] = lat
            print(f"interactive latency during a {doc_state.total}-sentence document "
                  f"(at {doc_state.done} when done): p50 {lat['p50_ms']:.0f} ms, "
                  f"p95 {lat['p95_ms']:.0f} ms, max {lat['max_ms']:.0f} ms", flush=True)

        # 4. Load: 100 documents and 500 texts at once; outputs equal in-process translation.
        if "load" not in skip:
            docs = ["\n".join(test.src[i * 10:(i + 1) * 10]) + "\n" for i in range(100)]
            texts = train.src[2000:2500]
            start = time.perf_counter()
            with ThreadPoolExecutor(50) as pool:
                doc_ids = list(pool.map(lambda d: intake.submit_document(d, PAIR).id, docs))
                text_ids = list(pool.map(lambda t: intake.submit_text(t, PAIR).id, texts))
            doc_jobs = [wait(store, i, poll=0.05) for i in doc_ids]
            text_jobs = [wait(store, i, poll=0.05) for i in text_ids]
            seconds = time.perf_counter() - start
            done = sum(j.status == "done" for j in doc_jobs + text_jobs)
            got_docs = [store.get_result(i)["text"] for i in doc_ids]
            got_texts = [store.get_result(i)["translations"][0] for i in text_ids]
            want_docs = [translate_document(local, d, lang="de", beam_size=args.beam)
                         for d in docs]
            want_texts = local.translate(texts, beam_size=args.beam)
            same_docs = sum(a == b for a, b in zip(got_docs, want_docs))
            same_texts = sum(a == b for a, b in zip(got_texts, want_texts))
            results["load"] = {"documents": len(docs), "texts": len(texts), "completed": done,
                               "seconds": seconds, "identical_documents": same_docs,
                               "identical_texts": same_texts}
            print(f"load: {done}/{len(docs) + len(texts)} jobs completed in {seconds:.1f} s; "
                  f"identical to in-process: {same_docs}/{len(docs)} documents, "
                  f"{same_texts}/{len(texts)} texts", flush=True)
        workers.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
