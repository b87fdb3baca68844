"""Every Redis key of ours: its name (the functions and constants below, which every part of
the store writes through) and the key layout, documented here and nowhere else.

Keys, all under `nmt:`; a job's keys expire after JOB_TTL (an evaluation's after
EVALUATION_TTL):
- `nmt:job:<id>`: the record, a hash of JSON values (worker/records.py);
- `nmt:job:<id>:input`, `nmt:job:<id>:reference`: the submitted text (bytes, as received);
- `nmt:job:<id>:result`: the output as JSON;
- `nmt:job:<id>:output`: a document's translated file (bytes, in the input's format);
- `nmt:job:<id>:progress`: hash, sentences done per part (chunk index, or "0");
- `nmt:job:<id>:finished`: list holding the final status once the job has one (expires after
  a few minutes): what `wait` blocks on (BLMOVE onto itself) instead of polling;
- `nmt:job:<id>:pending`: hash, task id -> {name, args, queue} of each task sent for the job and
  not yet finished (what recovery re-sends if the broker lost its message);
- `nmt:job:<id>:layout`: a document's layout, [[indent, sentences], ...] per line;
- `nmt:job:<id>:source:<i>`: the sentences of chunk i (each chunk reads its own);
- `nmt:job:<id>:chunk:<i>`: chunk i's translations, deleted once the document is assembled;
- `nmt:job:<id>:alignment:<i>`: chunk i's word alignments (a formatted document's, for its
  inline markup), deleted with them;
- `nmt:job:<id>:confidence:<i>`: chunk i's sentence confidences (apart from the translations,
  which 0.1.0 workers read as plain strings), deleted with them;
- `nmt:job:<id>:pivot`: a pivoting text job's first step (its sentences in the pivot language
  and their confidences), what the second step translates on;
- `nmt:job:<id>:pivot:<i>`: a pivoting document's chunk i after its first step (translations,
  confidences, alignments), deleted with the chunks;
- `nmt:job:<id>:chunks_done`: set of the translated chunks' indexes;
- `nmt:job:<id>:assembling`: the claim of the task assembling a document (expires);
- `nmt:jobs`: sorted set of all job ids by creation time (the list's index);
- `nmt:owner:<kind>:<hash>`: sorted set of one owner's job ids (their list; an owner is
  `key:<hash>` or `session:<hash>`, web/access.py), expiring with them;
- `nmt:usage:<kind>:<hash>:<day>`: characters an owner sent that day (per-key daily limits);
- `nmt:evaluations`: sorted set of evaluation job ids by creation time (the leaderboard's);
- `nmt:active`: sorted set of unfinished job ids by last activity (the recovery sweep's);
- `nmt:recovering`: the recovery sweep's claim for one period (expires);
- `nmt:workers`: hash, worker name -> {pairs, models, pid, started, torch_threads, device,
  precision, ready, warm, failed}: `ready` the pairs loaded ([] until then; None in a prefork
  worker, whose pool processes load their own), `warm` true and `failed` (the pairs that did
  not load) once a worker that decodes in its main process has loaded its models;
- `nmt:comparison:<sha1>`: the comparison of a list of evaluations (the first the baseline;
  a leaderboard board's significance tests, or the workbench's comparison with its analyses),
  JSON, written by the evaluation queue and kept as long as its evaluations;
- `nmt:comparison:<sha1>:claim`: the claim of the task computing it (expires: a lost task is
  sent again once it has);
- `nmt:job:<id>:comparisons`: set of the comparison keys an evaluation is part of (deleted
  with it);
- `nmt:job:<id>:hypotheses`: an uploaded system's output; `nmt:job:<id>:references`: an
  evaluation's further reference streams (JSON list of texts; the first is `reference`).
Celery's and kombu's keys (queues, `unacked`, `celery-task-meta-*`) and the rate limiter's are
theirs, not ours.

Who writes what: worker/store/jobs.py a job's record, blobs, result, progress, finished list and
pending hash, and the indexes, owners' lists, usage counters and the sweep's claim;
worker/store/evaluations.py the comparisons, their claims and an evaluation's deletion;
worker/store/documents.py a document's layout, sources, per-chunk keys, chunks_done, assembling
and output; worker/store/system.py the workers' registry.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

PREFIX = "nmt:"

JOBS = PREFIX + "jobs"
EVALUATIONS = PREFIX + "evaluations"
ACTIVE = PREFIX + "active"
RECOVERING = PREFIX + "recovering"
WORKERS = PREFIX + "workers"

CHUNK_PARTS = ("chunk", "confidence", "source", "alignment", "pivot")
"""The per-chunk keys of a document (`nmt:job:<id>:<part>:<i>`), deleted once it is assembled."""


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def job(job_id: str, *parts: str) -> str:
    """`nmt:job:<id>` (the record), or one of the job's keys: job(id, "result"), ..."""
    return key("job", job_id, *parts)


def chunk(job_id: str, part: str, index: int) -> str:
    """A document's per-chunk key: chunk(id, "source", 3) is `nmt:job:<id>:source:3`."""
    return job(job_id, part, str(index))


def owner(name: str) -> str:
    """`nmt:owner:<kind>:<hash>`, one owner's list of jobs."""
    return key("owner", name)


def usage(name: str, day: str) -> str:
    """`nmt:usage:<kind>:<hash>:<day>`, the characters an owner sent that day."""
    return key("usage", name, day)


def comparison(job_ids: list[str], detail: bool) -> str:
    """`nmt:comparison:<sha1>`, the comparison of exactly these evaluations in this order (with
    the analyses or without: `detail`)."""
    # a cache key, not a security boundary: SHA-1 names the list of evaluations
    name = ",".join(job_ids) + (":detail" if detail else "")
    return key("comparison", hashlib.sha1(name.encode(),  # noqa: S324
                                          usedforsecurity=False).hexdigest())


def valid_id(job_id: Any) -> bool:
    return isinstance(job_id, str) and len(job_id) == 32 and all(
        c in "0123456789abcdef" for c in job_id)


def new_job_id() -> str:
    return uuid.uuid4().hex
