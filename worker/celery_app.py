"""The Celery application: Redis broker and result backend, JSON only, no lost work.

Queues (one set per language pair, so workers for different pairs can live on different machines):
- `text.<pair>`: interactive `translate_text` jobs, served by a thread-pool worker whose threads
  share one model and one micro-batcher (worker/batcher.py);
- `docs.<pair>`: document jobs and their chunks, served by prefork workers;
- `eval`: checkpoint evaluations (any pair), served by prefork workers.

Delivery: tasks are acknowledged after they finish (`acks_late`), re-queued if their process
dies (`task_reject_on_worker_lost`), one message reserved per process at a time (prefetch 1), and
Redis redelivers an unacknowledged message after `VISIBILITY_TIMEOUT` if a whole worker vanishes.
This module imports neither torch nor the translator: the web uses it to send tasks by name,
with an app of its own settings (`make_app`). The environment's app, `worker.celery_app.app`
(what `celery -A worker.celery_app worker` loads), is built on first access, not at import.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from . import logs  # noqa: F401  (structured worker logs with job ids)
from .settings import Settings

TEXT_TASK = "worker.tasks.translate_text"
DOCUMENT_TASK = "worker.tasks.translate_document"
CHUNK_TASK = "worker.tasks.translate_chunk"
EVALUATE_TASK = "worker.tasks.evaluate_checkpoint"
SCORE_TASK = "worker.tasks.score_system"
COMPARE_TASK = "worker.tasks.compare_evaluations"
EVAL_QUEUE = "eval"
RESTORE_INTERVAL = 10  # seconds between sweeps for unacknowledged messages past their timeout
# Seconds without activity after which a job's pending tasks are looked for in the queues and
# the unacked hash, and re-sent if the broker lost them (JobStore.recover_stalled): one sweep.
# Running jobs record activity after every batch; a vanished worker's messages are in the
# unacked hash, which the look checks, so this need not wait for the visibility timeout.
STALL_AFTER = RESTORE_INTERVAL


def text_queue(pair: str) -> str:
    return f"text.{pair}"


def docs_queue(pair: str) -> str:
    return f"docs.{pair}"


def worker_queues(settings: Settings, kind: str) -> list[str]:
    """Queue names a worker of `kind` ("text", "docs" or "all") consumes for its pairs."""
    pairs = settings.served_pairs()
    queues = []
    if kind in ("text", "all"):
        queues += [text_queue(p) for p in pairs]
    if kind in ("docs", "all"):
        queues += [docs_queue(p) for p in pairs] + [EVAL_QUEUE]
    return queues


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    url = settings.redis_url or "redis://127.0.0.1:6379/0"  # `serve` sets REDIS_URL when embedded
    app = Celery("worker", broker=url, backend=url,
                 include=["worker.tasks", "worker.evaluation_tasks"])
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_ignore_result=True,  # outcomes live in the job store (worker/store/)
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.soft_time_limit or None,
        task_time_limit=settings.time_limit,
        result_expires=settings.result_expires,
        # A task whose whole worker vanished (kill -9, lost machine) is redelivered after
        # visibility_timeout, found by a sweep every 10 s: a delay of VT to VT + 10 s.
        broker_transport_options={"visibility_timeout": settings.visibility_timeout,
                                  "unacked_restore_interval": RESTORE_INTERVAL,
                                  "unacked_restore_throttle": 1,
                                  "unacked_mutex_expire": 30},
        result_backend_transport_options={"visibility_timeout": settings.visibility_timeout},
        result_backend_always_retry=True,  # ride out a Redis restart when storing results
        result_backend_max_retries=30,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep retrying while Redis restarts
        task_default_queue=EVAL_QUEUE,
        task_queues=[Queue(q) for p in settings.model_paths()
                     for q in (text_queue(p), docs_queue(p))] + [Queue(EVAL_QUEUE)],
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        # Job records track progress; task events (for Flower) stay off unless enabled with
        # `celery control enable_events` (Flower does that itself).
        worker_send_task_events=False,
        task_track_started=False,
        broker_heartbeat=0,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # A new pool process imports torch before it reports ready (worker/runtime.py); on a
        # loaded machine that takes longer than Celery's 4 s default.
        worker_proc_alive_timeout=60,
    )
    tls = redis_tls_options(url)
    if tls is not None:  # rediss://: kombu and the result backend take the options apart
        app.conf.update(broker_use_ssl=tls, redis_backend_use_ssl=tls)
    app.settings = settings
    return app


TLS_QUERY = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile"}


def redis_tls_options(url: str) -> dict | None:
    """For a `rediss://` URL, the TLS options its query names (redis-py's own names:
    `ssl_ca_certs`, `ssl_cert_reqs` = required | optional | none, `ssl_certfile`,
    `ssl_keyfile`), the certificate always verified unless the URL says otherwise; None for
    plain `redis://`. The job store and the rate limiter read the same query themselves."""
    import ssl
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items() if k in TLS_QUERY}
    reqs = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL,
            "none": ssl.CERT_NONE}.get(query.pop("ssl_cert_reqs", "required").lower(),
                                      ssl.CERT_REQUIRED)
    return {"ssl_cert_reqs": reqs, **query}


_app: Celery | None = None


def get_app() -> Celery:
    """The process's app from the environment's settings, built once on first use."""
    global _app
    if _app is None:
        _app = make_app()
    return _app


def __getattr__(name: str):
    if name == "app":  # `celery -A worker.celery_app` and `worker.celery_app.app`
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
