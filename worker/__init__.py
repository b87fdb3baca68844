"""Celery workers on Redis serving translation jobs (see worker/celery_app.py).

`worker.jobs` is the client API (submit, read, list, cancel) and imports no torch; `worker.tasks`
runs in the worker processes and calls `translator`.
"""
