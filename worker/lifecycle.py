"""How a task runs its job, the same for every task: claim the job (a cancelled, finished or
missing job is skipped), run the task's own work, map each error one way, and finish.

- the work raises Cancelled (its job was cancelled between two batches): it stops, nothing
  is written;
- a Redis error outlasting the store's retries (about a minute): the task is rejected *with
  requeue*, so the message goes back to its queue (or, if even that fails, stays
  unacknowledged and is redelivered after VISIBILITY_TIMEOUT). Celery's autoretry is not used:
  it must publish a new message, and with the broker down it drops the task;
- any other error fails the job with a message for the user (an unexpected one is logged with
  its traceback and shown as "internal error");
- work that returns `Finished` completes the job: its result is stored and its status set to
  done in the same step for every task.

Every write is idempotent (SET of a whole value, SADD, HSET), so a task that Redis redelivers
after its worker died writes the same output again, never a second copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import redis
from billiard.exceptions import TimeLimitExceeded
from celery import Task, current_task
from celery.exceptions import Reject, Retry, SoftTimeLimitExceeded

from .errors import InputError
from .records import Job, Status
from .runtime import wait_for_model_code, worker_state
from .store import JobStore

log = logging.getLogger("worker")


class Cancelled(Exception):
    """The job was cancelled while its task ran."""


@dataclass
class Finished:
    """What work returns when the job is complete: its result and the record's last fields;
    `then` runs once the job is marked done (e.g. to delete intermediate keys)."""

    result: dict
    fields: dict[str, Any] = field(default_factory=dict)
    then: Callable[[], None] | None = None


class Running:
    """The job a task is running: its store, its record (as claimed, or read on first use)
    and progress."""

    def __init__(self, store: JobStore, job_id: str, job: Job | None = None):
        self.store, self.job_id = store, job_id
        if job is not None:
            self.__dict__["job"] = job  # the cached_property's value

    @cached_property
    def job(self) -> Job:
        return self.store.require_job(self.job_id)

    def reporter(self, part: str, scale: float = 1.0, offset: float = 0.0
                 ) -> Callable[[int], None]:
        """`on_batch` for Translator.translate: record this part's sentences done and the
        job's activity, and stop with Cancelled once the job is cancelled (one round trip).
        `scale`, `offset`: a step of a pivot counts half its sentences (the second from half
        the chunk on)."""

        def on_batch(done: int) -> None:
            counted = int(offset + scale * done)
            status = self.store.report_progress(self.job_id, part, counted)
            if status is None or status == Status.CANCELLED:  # cancelled, or deleted (gone)
                self.store.drop_progress(self.job_id)
                raise Cancelled

        return on_batch


def run_job(job_id: str, work: Callable[[Running], Finished | dict]) -> dict:
    """Run `work` for the job as the module docstring says; returns the task's result."""
    wait_for_model_code()
    store = worker_state().store
    request = current_task.request if current_task else None
    try:
        job = store.start(job_id)
        if job is None or job.status.final:
            log.info("job %s: skipped (%s)", job_id, job.status if job else "no record")
            return {"job_id": job_id, "status": "skipped"}
        running = Running(store, job_id, job)
        try:
            outcome = work(running)
        except Cancelled:
            log.info("job %s: stopped (cancelled)", job_id)
            return {"job_id": job_id, "status": "cancelled"}
        except (redis.RedisError, Retry, Reject):
            raise
        except Exception as exc:
            return _fail(store, job_id, exc)
        if isinstance(outcome, Finished):
            task_id = request.id if request else None
            store.finish(job_id, Status.DONE, result=outcome.result, task_done=task_id,
                         **outcome.fields)
            if request is not None:
                request.pending_cleared = True  # after_return has nothing left to clear
            if outcome.then is not None:
                outcome.then()
            return {"job_id": job_id, "status": "done"}
        return {"job_id": job_id, **outcome}
    except redis.RedisError as exc:
        log.warning("Redis unavailable (%s); the task goes back to its queue", exc)
        raise Reject(str(exc), requeue=True) from None


def user_message(exc: BaseException) -> str:
    """What the job's record says about an error: its own words for errors of the input or
    the model, a generic line for anything unexpected. Imports no torch: a time limit can
    strike while a process is still importing it."""
    from translator.data.corpus import CorpusError
    from translator.errors import CheckpointError

    if isinstance(exc, SoftTimeLimitExceeded):
        return (f"the job ran longer than the time limit "
                f"({worker_state().settings.soft_time_limit} s) and was stopped")
    if isinstance(exc, (CheckpointError, CorpusError, InputError, ValueError)):
        return str(exc)
    return f"internal error ({type(exc).__name__}); the worker log has the details"


def _fail(store: JobStore, job_id: str, exc: BaseException) -> dict:
    message = user_message(exc)
    if message.startswith("internal error"):
        log.exception("job %s failed", job_id)
    else:
        log.warning("job %s failed: %s", job_id, message)
    store.fail(job_id, message)
    return {"job_id": job_id, "status": "failed", "error": message}


class JobTask(Task):
    """Base of the job tasks (their first argument is the job id)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """A time limit that `run_job`'s error handling never saw is recorded on the job here
        (a job that already has a final status keeps it): the hard limit, which kills the
        task (the worker's main process records it), and the soft limit where it strikes
        outside that handling, as while the task waits for its process's import of the model
        code (the job would otherwise stay queued for good: nothing sends its task again)."""
        if not args or not isinstance(exc, (TimeLimitExceeded, SoftTimeLimitExceeded)):
            return
        if isinstance(exc, TimeLimitExceeded):
            message = (f"the job ran longer than the hard time limit "
                       f"({worker_state().settings.time_limit} s); it was stopped")
        else:
            message = user_message(exc)
        try:
            worker_state().store.fail(args[0], message)
        except redis.RedisError:
            log.warning("job %s: could not record the time limit", args[0])

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        """The task ran to an end (not a retry or a requeue): it is no longer pending (a task
        that finished its job was cleared with the job's final status)."""
        if args and not getattr(self.request, "pending_cleared", False):
            try:
                worker_state().store.task_finished(args[0], task_id)
            except redis.RedisError:  # the entry stays; recovery finds the job finished
                log.warning("job %s: could not clear the finished task %s", args[0], task_id)
