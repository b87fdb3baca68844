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


class Dispatcher:
    def __init__(self, store: JobStore, app):
        self.store, self.app = store, app

    def send(self, job_id: str, tasks: list[TaskSpec]) -> list[str]:
        """Record the tasks in the job's pending hash, then send them; returns their ids. A
        task leaves the hash when it finishes (worker/lifecycle.py)."""
        ids = [uuid.uuid4().hex for _ in tasks]
        self.store.add_pending(job_id, {i: asdict(t) for i, t in zip(ids, tasks)})
        for task_id, task in zip(ids, tasks):
            self.resend(task_id, task)
        return ids

    def resend(self, task_id: str, task: TaskSpec) -> None:
        """Send a task under a given id (a re-send is a duplicate that tasks tolerate). Celery
        keeps no result of it: the job store holds every job's outcome, so the sender does not
        subscribe to a result channel and the worker writes no `celery-task-meta` key."""
        self.app.send_task(task.name, args=task.args, queue=task.queue, task_id=task_id,
                           ignore_result=True)

    def revoke(self, task_ids: list[str]) -> None:
        if task_ids:
            self.app.control.revoke(task_ids)
