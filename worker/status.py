"""What the status page shows of the system: the online workers and the queue lengths."""

from __future__ import annotations

from .celery_app import EVAL_QUEUE, docs_queue, text_queue
from .store import JobStore


def online_workers(store: JobStore, app, timeout: float = 1.0) -> list[dict]:
    """Workers answering a Celery broadcast, with their queues and (from their registry
    entry) their pairs and models."""
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    info = store.worker_info()
    return [{"name": name, "queues": [q["name"] for q in queues], **info.get(name, {})}
            for name, queues in sorted(replies.items())]


def queue_lengths(store: JobStore) -> dict[str, int]:
    """Messages waiting in each queue of the configured pairs and in the evaluation queue."""
    names = [q for pair in store.settings.model_paths()
             for q in (text_queue(pair), docs_queue(pair))]
    return store.list_lengths([*names, EVAL_QUEUE])
