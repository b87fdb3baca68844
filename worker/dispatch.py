"""Sending a job's tasks: each is recorded as pending on its job before it is sent, under a
task id of our own, so that recovery can tell a task the broker lost (worker/recovery.py)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

from .store import JobStore


@dataclass(frozen=True)
class TaskSpec:
    """A task message by name: what is sent, and what recovery re-sends."""

    name: str
    args: list
    queue: str


def plan(tasks: list[TaskSpec]) -> dict[str, TaskSpec]:
    """Task ids of our own for tasks about to be sent."""
    return {uuid.uuid4().hex: task for task in tasks}


def pending_records(planned: dict[str, TaskSpec]) -> dict[str, dict]:
    """What the job's pending hash holds for them (`JobStore.add_pending`/`create`)."""
    return {task_id: asdict(task) for task_id, task in planned.items()}


def args_shown(args: list) -> str:
    """A task's arguments as Celery shows them (Flower, worker logs, `inspect`): the job id
    alone, never the texts a user sent (Celery would otherwise keep a repr of every argument
    in the message)."""
    return f"[{args[0]!r}, ...]" if len(args) > 1 else repr(args)


class Dispatcher:
    def __init__(self, store: JobStore, app):
        self.store, self.app = store, app

    def send(self, job_id: str, tasks: list[TaskSpec]) -> list[str]:
        """Record the tasks in the job's pending hash, then send them; returns their ids. A
        task leaves the hash when it finishes (worker/lifecycle.py)."""
        planned = plan(tasks)
        self.store.add_pending(job_id, pending_records(planned))
        self.dispatch(planned)
        return list(planned)

    def dispatch(self, planned: dict[str, TaskSpec]) -> None:
        """Send tasks already recorded as pending (`plan`, then `pending_records` written
        with the job's record: one round trip for both)."""
        for task_id, task in planned.items():
            self.resend(task_id, task)

    def resend(self, task_id: str, task: TaskSpec) -> None:
        """Send a task under a given id (a re-send is a duplicate that tasks tolerate). Celery
        keeps no result of it: the job store holds every job's outcome, so the sender does not
        subscribe to a result channel and the worker writes no `celery-task-meta` key."""
        self.app.send_task(task.name, args=task.args, queue=task.queue, task_id=task_id,
                           ignore_result=True, argsrepr=args_shown(task.args))

    def revoke(self, task_ids: list[str]) -> None:
        if task_ids:
            self.app.control.revoke(task_ids)
