"""Structured worker logs: one `key=value` line per record, with the job id of the task that
wrote it (`job=-` outside tasks), so `grep job=<id>` follows a job across workers."""

from __future__ import annotations

import contextvars
import logging
import sys

from celery import signals

current_job: contextvars.ContextVar[str] = contextvars.ContextVar("current_job", default="-")
current_task: contextvars.ContextVar[str] = contextvars.ContextVar("current_task", default="-")

FORMAT = ("ts=%(asctime)s level=%(levelname)s pid=%(process)d job=%(job_id)s "
          "task=%(task)s logger=%(name)s msg=%(message)r")


class JobContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = current_job.get()
        record.task = current_task.get()
        return True


def configure(level: int | str = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(JobContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@signals.setup_logging.connect
def _setup_logging(loglevel=None, **_):
    """Celery calls this instead of configuring its own handlers."""
    configure(loglevel or logging.INFO)


@signals.task_prerun.connect
def _task_started(task_id=None, task=None, args=None, **_):
    current_job.set(str(args[0]) if args else "-")
    current_task.set(f"{task.name.rsplit('.', 1)[-1]}:{task_id}")


@signals.task_postrun.connect
def _task_finished(**_):
    current_job.set("-")
    current_task.set("-")
