"""What the evaluation workbench keeps beside the evaluations' own records: comparisons of
evaluations (computed once on the evaluation queue, read by the pages), the claims of the tasks
computing them, and an evaluation's deletion by its owner with everything derived from it."""

from __future__ import annotations

import json

import redis

from ..records import Job, Kind, Status
from . import keys

COMPARISON_CLAIM_SECONDS = 600
"""How long a queued comparison is awaited before a request sends its task again (a task the
broker lost, or one no worker of this version knows)."""

CLAIM_UNLESS_STORED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""
"""KEYS: a comparison, its claim; ARGV: the claim's seconds. 1 when this caller claimed it."""

_JOB_PARTS = ("input", "reference", "references", "hypotheses", "result", "progress",
              "finished", "pending", "comparisons")
"""An evaluation's keys besides its record (worker/store/keys.py)."""


class Comparisons:
    """Comparisons of evaluations and their deletion, on the store's client."""

    redis: redis.Redis  # the store's one client (worker/store/jobs.py, JobRecords)

    def comparison(self, job_ids: list[str], detail: bool) -> dict | None:
        """The stored comparison of these evaluations (`{"error": ...}` when it failed)."""
        raw = self.redis.get(keys.comparison(job_ids, detail))
        return json.loads(raw) if raw else None

    def claim_comparison(self, job_ids: list[str], detail: bool) -> bool:
        """True for the one caller that should send the task computing it (until the claim
        expires or the comparison is stored); False once it is stored, also when that
        happened after the caller found it missing (the task deletes the claim as it stores
        the comparison: a claim taken then would compute it a second time)."""
        name = keys.comparison(job_ids, detail)
        claim = self.redis.register_script(CLAIM_UNLESS_STORED)
        return bool(claim(keys=[name, name + ":claim"], args=[COMPARISON_CLAIM_SECONDS]))

    def save_comparison(self, job_ids: list[str], detail: bool, doc: dict) -> None:
        """Store a comparison for as long as the first of its evaluations to expire, and list
        it on each of them (deleted with any of them)."""
        name = keys.comparison(job_ids, detail)
        ttls = [t for t in (self.redis.ttl(keys.job(i)) for i in job_ids) if t > 0]
        if len(ttls) < len(job_ids):
            return  # an evaluation was deleted (or expired) meanwhile: nothing to keep
        pipe = self.redis.pipeline()
        pipe.set(name, json.dumps(doc), ex=min(ttls))
        pipe.delete(name + ":claim")
        for job_id in job_ids:
            pipe.sadd(keys.job(job_id, "comparisons"), name)
            pipe.expire(keys.job(job_id, "comparisons"), self.redis.ttl(keys.job(job_id)))
        pipe.execute()

    def delete_evaluation(self, job: Job) -> None:
        """Remove a finished evaluation: its record, inputs, outputs, its place in every
        index, and every comparison it is part of."""
        if job.kind != Kind.EVALUATION or not Status(job.status).final:
            raise ValueError("only a finished evaluation is deleted")
        derived = [m.decode() for m in self.redis.smembers(keys.job(job.id, "comparisons"))]
        pipe = self.redis.pipeline()
        pipe.delete(keys.job(job.id), *(keys.job(job.id, part) for part in _JOB_PARTS),
                    *derived, *(name + ":claim" for name in derived))
        for index in (keys.JOBS, keys.EVALUATIONS, keys.ACTIVE):
            pipe.zrem(index, job.id)
        if job.owner:
            pipe.zrem(keys.owner(job.owner), job.id)
        pipe.execute()
