"""Job records and what hangs off them: a job's record, blobs, result, progress and finished
list; the task ids sent for it and not yet finished (pending-task bookkeeping); the indexes of
jobs (all, an owner's, evaluations, the active ones the recovery sweep reads), the owners'
daily usage. `JobRecords` holds the one Redis client every
part of the store shares (worker/store/__init__.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from .. import scripts
from ..errors import JobNotFound, JobStateError
from ..records import FINAL, Job, Kind, Status, encode_fields
from ..settings import Settings
from . import keys
from .keys import new_job_id, valid_id

WAIT_SLICE = 5.0
"""Longest single BLMOVE of `JobStore.wait`, below the client's 10 s socket timeout."""


class JobRecords:
    """Job records, their blobs and results, their pending tasks and the indexes of jobs."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self.settings = settings
        self.ttl = settings.job_ttl
        self.redis = client
        self._update = self.redis.register_script(scripts.UPDATE)
        self._start = self.redis.register_script(scripts.START)

    # ------------------------------------------------------------------ records
    def create(self, kind: Kind, pair: str, blobs: dict[str, bytes | str] | None = None,
               job_id: str | None = None, pending: dict[str, dict] | None = None,
               **fields: Any) -> Job:
        """Write a new queued job record, its input blobs and the tasks about to be sent for
        it (`pending`, as `add_pending` takes them) in one round trip."""
        values = {"id": job_id or new_job_id(), "kind": Kind(kind), "status": Status.QUEUED,
                  "pair": pair, "created": time.time(), "done": 0, "total": 0, **fields}
        job = Job(**values)
        ttl = self.ttl_of(job.kind)
        pipe = self.redis.pipeline()
        pipe.hset(keys.job(job.id), mapping=encode_fields(values))
        pipe.expire(keys.job(job.id), ttl)
        for name, value in (blobs or {}).items():
            pipe.set(keys.job(job.id, name), value, ex=ttl)
        pipe.zadd(keys.JOBS, {job.id: job.created})
        if job.owner:
            pipe.zadd(keys.owner(job.owner), {job.id: job.created})
            pipe.expire(keys.owner(job.owner), ttl, nx=True)  # a new list
            pipe.expire(keys.owner(job.owner), ttl, gt=True)  # as long as its longest job
        if not job.status.final:
            pipe.zadd(keys.ACTIVE, {job.id: job.created})
        if job.kind == Kind.EVALUATION:
            pipe.zadd(keys.EVALUATIONS, {job.id: job.created})
        if pending:
            self._write_pending(pipe, job.id, pending)
        pipe.execute()
        return job

    def ttl_of(self, kind: Kind) -> int:
        """Seconds a job's keys are kept: EVALUATION_TTL for evaluations, JOB_TTL for others."""
        return self.settings.evaluation_ttl if kind == Kind.EVALUATION else self.ttl

    def update(self, job_id: str, force: bool = False, result: dict | None = None,
               task_done: str | None = None, **fields: Any) -> bool:
        """Set fields unless the job is finished (force: even then); False if not applied.
        `result` is stored with them and the task `task_done` leaves the pending hash, in
        the same round trip."""
        args = ["1" if force else "0", job_id,
                "" if result is None else json.dumps(result), str(self.ttl), task_done or ""]
        for name, value in encode_fields(fields).items():
            args += [name, value]
        lua_keys = [keys.job(job_id), keys.ACTIVE, keys.job(job_id, "finished"),
                    keys.job(job_id, "result"), keys.job(job_id, "pending")]
        return self._update(keys=lua_keys, args=args) == 1

    def start(self, job_id: str) -> Job | None:
        """Mark a queued job running; its record then (None if there is none), in one round
        trip."""
        reply = self._start(keys=[keys.job(job_id), keys.ACTIVE, keys.job(job_id, "progress")],
                            args=[json.dumps(time.time()), job_id])
        if not reply:
            return None
        flat, progress = reply
        return Job.from_hash(dict(zip(flat[::2], flat[1::2])), progress)

    def finish(self, job_id: str, status: Status, result: dict | None = None,
               task_done: str | None = None, **fields: Any) -> bool:
        """Give the job a final status (and store its result first); False if it already
        had one. `task_done`: the task that finished it, no longer pending."""
        return self.update(job_id, result=result, task_done=task_done, status=Status(status),
                           finished=time.time(), **fields)

    def fail(self, job_id: str, error: str) -> bool:
        return self.finish(job_id, Status.FAILED, error=error)

    def touch(self, job_id: str, pipe=None) -> None:
        """Record activity on an unfinished job (the recovery sweep leaves it alone)."""
        (pipe or self.redis).zadd(keys.ACTIVE, {job_id: time.time()}, xx=True)

    # ------------------------------------------------------------------ reads
    def get_job(self, job_id: str) -> Job | None:
        return self.get_jobs([job_id])[0]

    def get_jobs(self, job_ids: list[str]) -> list[Job | None]:
        """The records of `job_ids` (None where there is none), read in one round trip."""
        valid = [j for j in job_ids if valid_id(j)]
        pipe = self.redis.pipeline(transaction=False)
        for job_id in valid:
            pipe.hgetall(keys.job(job_id))
            pipe.hvals(keys.job(job_id, "progress"))
        replies = iter(pipe.execute() if valid else [])
        found = {}
        for job_id in valid:
            raw, progress = next(replies), next(replies)
            found[job_id] = Job.from_hash(raw, progress) if raw else None
        return [found.get(job_id) for job_id in job_ids]

    def require_job(self, job_id: str) -> Job:
        """The job's record; raises JobNotFound."""
        job = self.get_job(job_id)
        if job is None:
            raise JobNotFound(f"no job {str(job_id)[:40]!r} (it may have expired)")
        return job

    def require_result(self, job_id: str) -> tuple[Job, dict]:
        """(record, result) of a finished job; raises JobNotFound, or JobStateError while it
        has no result."""
        job = self.require_job(job_id)
        result = self.get_result(job_id) if job.status == Status.DONE else None
        if result is None:
            raise JobStateError(f"job {job_id} has no result yet (status {job.status})", job)
        return job, result

    def get_result(self, job_id: str) -> dict | None:
        raw = self.redis.get(keys.job(job_id, "result")) if valid_id(job_id) else None
        return json.loads(raw) if raw else None

    def status(self, job_id: str) -> Status | None:
        """The job's status alone (one HGET), for checks inside hot loops."""
        raw = self.redis.hget(keys.job(job_id), "status")
        return Status(json.loads(raw)) if raw else None

    def wait(self, job_id: str, timeout: float) -> Status | None:
        """Block until the job has a final status or `timeout` seconds pass; its status then
        (None if there is no such job). Woken by the status pushed on the job's finished list,
        not by polling: one blocking BLMOVE per WAIT_SLICE, after which the status is read
        again (a job finished by a worker of a release without the list is still seen)."""
        return self.wait_result(job_id, timeout, result=False)[0]

    def wait_result(self, job_id: str, timeout: float, result: bool = True
                    ) -> tuple[Status | None, dict | None]:
        """`wait`, and the result of a job that is done (None otherwise): the woken BLMOVE
        and the read of the result go in one pipeline, so one round trip for both."""
        deadline = time.monotonic() + timeout
        finished, result_key = keys.job(job_id, "finished"), keys.job(job_id, "result")
        status = self.status(job_id)
        while True:
            left = deadline - time.monotonic()
            if status is None or left <= 0:
                return status, None
            if status.final:
                return status, self.get_result(job_id) if result and status == Status.DONE \
                    else None
            # BLMOVE of the list onto itself: the status stays for the job's other waiters.
            # Redis runs the GET after the BLMOVE has returned, on the same connection.
            pipe = self.redis.pipeline(transaction=False)
            pipe.blmove(finished, finished, min(left, WAIT_SLICE), "RIGHT", "LEFT")
            if result:
                pipe.get(result_key)
            moved, *raw = pipe.execute()
            if moved:
                status = Status(json.loads(moved))
                done = result and status == Status.DONE and raw[0]
                return status, json.loads(raw[0]) if done else None
            status = self.status(job_id)

    def save_blob(self, job_id: str, name: str, data: bytes | str) -> None:
        """A blob a step of the job writes for a later one (a pivot's first step: `pivot`);
        idempotent: a whole value."""
        self.redis.set(keys.job(job_id, name), data, ex=self.ttl)

    def get_blob(self, job_id: str, name: str) -> bytes | None:
        """A submitted text (`input`, `reference`) or a step's blob (`pivot`)."""
        return self.redis.get(keys.job(job_id, name)) if valid_id(job_id) else None

    # ------------------------------------------------------------------ lists and owners
    def list_jobs(self, offset: int = 0, limit: int = 20, owner: str | None = None
                  ) -> tuple[list[Job], int]:
        """Newest first, every job or `owner`'s; returns (jobs, total). Ids whose record
        expired are dropped."""
        index = keys.owner(owner) if owner else keys.JOBS
        total = self.redis.zcard(index)
        ids = self.redis.zrevrange(index, offset, offset + limit - 1)
        jobs, expired = [], []
        for raw_id, job in zip(ids, self.get_jobs([i.decode() for i in ids])):
            (jobs if job else expired).append(job or raw_id)
        if expired:
            self.redis.zrem(index, *expired)
        return jobs, total - len(expired)

    def count_usage(self, owner: str, chars: int, day: str) -> int:
        """Add `chars` to `owner`'s characters of `day` (UTC, YYYYMMDD); the day's total
        (kept two days)."""
        pipe = self.redis.pipeline()
        pipe.incrby(keys.usage(owner, day), chars)
        pipe.expire(keys.usage(owner, day), 2 * 86400)
        return pipe.execute()[0]

    def list_evaluations(self, limit: int = 500) -> list[Job]:
        """Finished evaluation jobs, newest first."""
        ids = self.redis.zrevrange(keys.EVALUATIONS, 0, limit - 1)
        jobs = self.get_jobs([i.decode() for i in ids])
        return [j for j in jobs if j and j.status == Status.DONE]

    # ------------------------------------------------------------------ tasks of a job
    def add_pending(self, job_id: str, tasks: dict[str, dict]) -> None:
        """Record tasks about to be sent ({task id: {name, args, queue}})."""
        pipe = self.redis.pipeline()
        self._write_pending(pipe, job_id, tasks)
        pipe.execute()

    def _write_pending(self, pipe, job_id: str, tasks: dict[str, dict]) -> None:
        pending = keys.job(job_id, "pending")
        pipe.hset(pending, mapping={task_id: json.dumps(spec) for task_id, spec in tasks.items()})
        pipe.expire(pending, self.ttl)

    def task_finished(self, job_id: str, task_id: str) -> None:
        self.redis.hdel(keys.job(job_id, "pending"), task_id)

    def pending_tasks(self, job_id: str) -> dict[str, dict]:
        raw = self.redis.hgetall(keys.job(job_id, "pending"))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def report_progress(self, job_id: str, part: str, done: int) -> Status | None:
        """Record `done` sentences for one part of the job (a redelivered part overwrites,
        never adds) and its activity; returns the job's status (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.job(job_id, "progress"), part, done)
        pipe.expire(keys.job(job_id, "progress"), self.ttl)
        self.touch(job_id, pipe)
        pipe.hget(keys.job(job_id), "status")
        raw = pipe.execute()[-1]
        return Status(json.loads(raw)) if raw else None

    def drop_progress(self, job_id: str) -> None:
        """Remove a progress hash that a part wrote after its job was gone (deleted or
        expired), so that nothing of the job outlives it."""
        if not self.redis.exists(keys.job(job_id)):
            self.redis.delete(keys.job(job_id, "progress"))

    # ------------------------------------------------------------------ recovery's index
    def idle_jobs(self, idle_for: float, limit: int = 500) -> list[str]:
        """Unfinished jobs with no activity for `idle_for` seconds, longest idle first."""
        return [raw.decode() for raw in self.redis.zrangebyscore(
            keys.ACTIVE, 0, time.time() - idle_for, start=0, num=limit)]

    def claim_sweep(self, seconds: float) -> bool:
        """True for the one sweeper that may act in this period of `seconds`."""
        return bool(self.redis.set(keys.RECOVERING, 1, nx=True, ex=max(1, round(seconds))))

    def pending_of(self, job_ids: list[str]) -> dict[str, dict[str, dict]]:
        """{job id: its pending tasks} for the unfinished jobs among `job_ids`; finished or
        expired ones leave the activity index."""
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "status")
            pipe.hgetall(keys.job(job_id, "pending"))
        replies = pipe.execute()
        out = {}
        for job_id, status, raw in zip(job_ids, replies[::2], replies[1::2]):
            if status is None or Status(json.loads(status)) in FINAL:
                self.redis.zrem(keys.ACTIVE, job_id)
            else:
                out[job_id] = {k.decode(): json.loads(v) for k, v in raw.items()}
        return out

    def touch_all(self, job_ids: list[str]) -> None:
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            self.touch(job_id, pipe)
        pipe.execute()
