"""Health and status checks, open without a key: `/status` (the status page: Redis, the
workers as they answer, the queues, the pairs) and `/healthz` (JSON for load balancers and
monitors: the web, Redis and whether the models are loaded, from the workers' registry)."""

from __future__ import annotations

import time

from flask import jsonify, render_template

from worker.status import online_workers, queue_lengths

from .catalog import by_checkpoint, model_list
from .extensions import celery, settings, store
from .pages import bp


@bp.get("/status")
def status():
    jobs = store()
    redis_ok = jobs.ping()
    workers, queues = [], {}
    if redis_ok:
        workers = online_workers(jobs, celery(), timeout=1.0)
        queues = queue_lengths(jobs)
    code = 200 if redis_ok else 503
    for worker in workers:
        worker["checkpoints"] = by_checkpoint(worker.get("models") or {})
    busy, empty = waiting_queues(queues)
    return render_template("status.html", redis_ok=redis_ok, workers=workers, busy=busy,
                           empty=empty, languages=model_list(), checked=time.time()), code


def waiting_queues(queues: dict[str, int]) -> tuple[dict[str, int], int]:
    """({queue: jobs waiting} of the queues that have some, how many queues are empty)."""
    busy = {name: n for name, n in queues.items() if n}
    return busy, len(queues) - len(busy)


@bp.get("/healthz")
def healthz():
    """The web and Redis (200, or 503 without Redis), and whether the models are loaded:
    `models` is "ready" once every pair of MODELS is warm in every interactive worker that
    serves it (any of them may take the next request),
    "loading" while one is still warming up, "failed" when a pair could not be loaded
    (`models_failed` says why), "no worker" without one. From the workers' registry; the
    status page asks the workers themselves."""
    jobs = store()
    ok = jobs.ping()
    body = {"web": "ok", "redis": "ok" if ok else "unreachable"}
    if ok:
        body.update(models_readiness(jobs.worker_info(), sorted(settings().model_paths())))
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response


def models_readiness(workers: dict[str, dict], pairs: list[str]) -> dict:
    interactive = [w for w in workers.values() if isinstance(w.get("ready"), list)]
    serving = {pair: [w for w in interactive if pair in w.get("pairs", pairs)] for pair in pairs}
    warm = {pair for pair, ws in serving.items() if ws and all(pair in w["ready"] for w in ws)}
    failed = {pair: why for w in interactive for pair, why in (w.get("failed") or {}).items()
              if pair in pairs and pair not in warm}
    if not interactive:
        state = "no worker"
    elif warm == set(pairs):
        state = "ready"
    elif all(w.get("warm") for w in interactive):
        state = "failed"
    else:
        state = "loading"
    return {"models": state, "models_ready": sorted(warm),
            "models_loading": sorted(set(pairs) - warm - set(failed)), "models_failed": failed}
