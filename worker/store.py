"""The job store: the one owner of the project's Redis keys. Everything else (intake, tasks,
recovery, the web) reads and writes them through its methods.

Keys, all under `nmt:`; a job's keys expire after JOB_TTL:
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
  which workers of the previous release read as plain strings), deleted with them;
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
- `nmt:workers`: hash, worker name -> {pairs, models, pid, started, torch_threads};
- `nmt:leaderboard:<sha1>`: cached significance tests of one set of evaluations (a day).
Celery's and kombu's keys (queues, `unacked`, `celery-task-meta-*`) and the rate limiter's are
theirs, not ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from translator.document import Document

from . import scripts
from .errors import JobNotFound, JobStateError
from .records import FINAL, Job, Kind, Status, encode_fields
from .settings import Settings

PREFIX = "nmt:"
ASSEMBLY_CLAIM_SECONDS = 60
LEADERBOARD_CACHE_SECONDS = 86400
WAIT_SLICE = 5.0
"""Longest single BLPOP of `JobStore.wait`, below the client's 10 s socket timeout."""


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def valid_id(job_id: Any) -> bool:
    return isinstance(job_id, str) and len(job_id) == 32 and all(
        c in "0123456789abcdef" for c in job_id)


def new_job_id() -> str:
    return uuid.uuid4().hex


class PatientBackoff(ExponentialBackoff):
    """The workers' wait between retries of a failed Redis command, until the process begins
    its shutdown (`stop_riding_out`); from then on a failed command fails at once. A warm
    shutdown waits for its running tasks, and tasks riding out a Redis that is gone for good
    (a killed `translator serve` takes its embedded Redis with it) held it for a minute; their
    messages are not acknowledged, so they run again."""

    hurry = False  # class-wide: redis-py copies the retry policy into every connection

    def compute(self, failures: int) -> float:
        if PatientBackoff.hurry:
            raise redis.ConnectionError("Redis is unreachable and this worker is shutting down")
        return super().compute(failures)


def stop_riding_out() -> None:
    """From now on this process's failed Redis commands are not retried (it is stopping)."""
    PatientBackoff.hurry = True


class JobStore:
    """Job records, inputs, outputs and the indexes, on one Redis (the broker's)."""

    def __init__(self, settings: Settings, patient: bool = False):
        """`patient` (the workers): ride out a Redis restart by retrying each command with
        backoff for about a minute; otherwise (the web) fail fast so the page can say 503."""
        self.settings = settings
        self.ttl = settings.job_ttl
        backoff = (PatientBackoff if patient else ExponentialBackoff)(cap=2.0, base=0.05)
        retry = Retry(backoff, retries=40 if patient else 1)
        self.redis = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0",
                                          socket_timeout=10, socket_connect_timeout=3,
                                          health_check_interval=15, retry=retry,
                                          retry_on_error=[redis.ConnectionError,
                                                          redis.TimeoutError])
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
        pipe = self.redis.pipeline()
        pipe.hset(key("job", job.id), mapping=encode_fields(values))
        pipe.expire(key("job", job.id), self.ttl)
        for name, value in (blobs or {}).items():
            pipe.set(key("job", job.id, name), value, ex=self.ttl)
        pipe.zadd(key("jobs"), {job.id: job.created})
        if job.owner:
            pipe.zadd(key("owner", job.owner), {job.id: job.created})
            pipe.expire(key("owner", job.owner), self.ttl)
        if not job.status.final:
            pipe.zadd(key("active"), {job.id: job.created})
        if job.kind == Kind.EVALUATION:
            pipe.zadd(key("evaluations"), {job.id: job.created})
        if pending:
            self._write_pending(pipe, job.id, pending)
        pipe.execute()
        return job

    def update(self, job_id: str, force: bool = False, result: dict | None = None,
               task_done: str | None = None, **fields: Any) -> bool:
        """Set fields unless the job is finished (force: even then); False if not applied.
        `result` is stored with them and the task `task_done` leaves the pending hash, in
        the same round trip."""
        args = ["1" if force else "0", job_id,
                "" if result is None else json.dumps(result), str(self.ttl), task_done or ""]
        for name, value in encode_fields(fields).items():
            args += [name, value]
        keys = [key("job", job_id), key("active"), key("job", job_id, "finished"),
                key("job", job_id, "result"), key("job", job_id, "pending")]
        return self._update(keys=keys, args=args) == 1

    def start(self, job_id: str) -> Job | None:
        """Mark a queued job running; its record then (None if there is none), in one round
        trip."""
        reply = self._start(keys=[key("job", job_id), key("active"),
                                  key("job", job_id, "progress")],
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
        (pipe or self.redis).zadd(key("active"), {job_id: time.time()}, xx=True)

    # ------------------------------------------------------------------ reads
    def get_job(self, job_id: str) -> Job | None:
        return self.get_jobs([job_id])[0]

    def get_jobs(self, job_ids: list[str]) -> list[Job | None]:
        """The records of `job_ids` (None where there is none), read in one round trip."""
        valid = [j for j in job_ids if valid_id(j)]
        pipe = self.redis.pipeline(transaction=False)
        for job_id in valid:
            pipe.hgetall(key("job", job_id))
            pipe.hvals(key("job", job_id, "progress"))
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
        raw = self.redis.get(key("job", job_id, "result")) if valid_id(job_id) else None
        return json.loads(raw) if raw else None

    def status(self, job_id: str) -> Status | None:
        """The job's status alone (one HGET), for checks inside hot loops."""
        raw = self.redis.hget(key("job", job_id), "status")
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
        finished, result_key = key("job", job_id, "finished"), key("job", job_id, "result")
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
        self.redis.set(key("job", job_id, name), data, ex=self.ttl)

    def get_blob(self, job_id: str, name: str) -> bytes | None:
        """A submitted text (`input`, `reference`) or a step's blob (`pivot`)."""
        return self.redis.get(key("job", job_id, name)) if valid_id(job_id) else None

    def list_jobs(self, offset: int = 0, limit: int = 20, owner: str | None = None
                  ) -> tuple[list[Job], int]:
        """Newest first, every job or `owner`'s; returns (jobs, total). Ids whose record
        expired are dropped."""
        index = key("owner", owner) if owner else key("jobs")
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
        pipe.incrby(key("usage", owner, day), chars)
        pipe.expire(key("usage", owner, day), 2 * 86400)
        return pipe.execute()[0]

    def list_evaluations(self, limit: int = 500) -> list[Job]:
        """Finished evaluation jobs, newest first."""
        ids = self.redis.zrevrange(key("evaluations"), 0, limit - 1)
        jobs = self.get_jobs([i.decode() for i in ids])
        return [j for j in jobs if j and j.status == Status.DONE]

    # ------------------------------------------------------------------ tasks of a job
    def add_pending(self, job_id: str, tasks: dict[str, dict]) -> None:
        """Record tasks about to be sent ({task id: {name, args, queue}})."""
        pipe = self.redis.pipeline()
        self._write_pending(pipe, job_id, tasks)
        pipe.execute()

    def _write_pending(self, pipe, job_id: str, tasks: dict[str, dict]) -> None:
        pending = key("job", job_id, "pending")
        pipe.hset(pending, mapping={task_id: json.dumps(spec) for task_id, spec in tasks.items()})
        pipe.expire(pending, self.ttl)

    def task_finished(self, job_id: str, task_id: str) -> None:
        self.redis.hdel(key("job", job_id, "pending"), task_id)

    def pending_tasks(self, job_id: str) -> dict[str, dict]:
        raw = self.redis.hgetall(key("job", job_id, "pending"))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def report_progress(self, job_id: str, part: str, done: int) -> Status | None:
        """Record `done` sentences for one part of the job (a redelivered part overwrites,
        never adds) and its activity; returns the job's status (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key("job", job_id, "progress"), part, done)
        pipe.expire(key("job", job_id, "progress"), self.ttl)
        self.touch(job_id, pipe)
        pipe.hget(key("job", job_id), "status")
        raw = pipe.execute()[-1]
        return Status(json.loads(raw)) if raw else None

    # ------------------------------------------------------------------ recovery's index
    def idle_jobs(self, idle_for: float, limit: int = 500) -> list[str]:
        """Unfinished jobs with no activity for `idle_for` seconds, longest idle first."""
        return [raw.decode() for raw in self.redis.zrangebyscore(
            key("active"), 0, time.time() - idle_for, start=0, num=limit)]

    def claim_sweep(self, seconds: float) -> bool:
        """True for the one sweeper that may act in this period of `seconds`."""
        return bool(self.redis.set(key("recovering"), 1, nx=True, ex=max(1, round(seconds))))

    def pending_of(self, job_ids: list[str]) -> dict[str, dict[str, dict]]:
        """{job id: its pending tasks} for the unfinished jobs among `job_ids`; finished or
        expired ones leave the activity index."""
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            pipe.hget(key("job", job_id), "status")
            pipe.hgetall(key("job", job_id, "pending"))
        replies = pipe.execute()
        out = {}
        for job_id, status, raw in zip(job_ids, replies[::2], replies[1::2]):
            if status is None or Status(json.loads(status)) in FINAL:
                self.redis.zrem(key("active"), job_id)
            else:
                out[job_id] = {k.decode(): json.loads(v) for k, v in raw.items()}
        return out

    def touch_all(self, job_ids: list[str]) -> None:
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            self.touch(job_id, pipe)
        pipe.execute()

    # ------------------------------------------------------------------ documents
    def save_document(self, job_id: str, doc: Document, chunk_size: int) -> int:
        """Store a segmented document as its layout and one source list per chunk of
        `chunk_size` sentences, and record the counts; returns the number of chunks."""
        sentences = doc.sentences
        n_chunks = -(-len(sentences) // chunk_size)
        pipe = self.redis.pipeline()
        pipe.set(key("job", job_id, "layout"), json.dumps(doc.layout()), ex=self.ttl)
        for i in range(n_chunks):
            pipe.set(key("job", job_id, "source", str(i)),
                     json.dumps(sentences[i * chunk_size: (i + 1) * chunk_size]), ex=self.ttl)
        pipe.execute()
        self.update(job_id, total=len(sentences), chunks=n_chunks, chunk_size=chunk_size)
        return n_chunks

    def chunk_source(self, job: Job, index: int) -> list[str]:
        """The sentences of chunk `index`. A document segmented by a worker of the previous
        layout (sentences inside the layout, no source keys) is sliced from its layout."""
        raw = self.redis.get(key("job", job.id, "source", str(index)))
        if raw is not None:
            return json.loads(raw)
        _, sentences = _previous_layout(json.loads(self.redis.get(key("job", job.id, "layout"))))
        return sentences[index * job.chunk_size: (index + 1) * job.chunk_size]

    def chunk_done(self, job_id: str, index: int) -> bool:
        return bool(self.redis.sismember(key("job", job_id, "chunks_done"), index))

    def save_chunk(self, job_id: str, index: int, translations: list[str],
                   confidences: list[float] | None = None,
                   alignments: list[list[int]] | None = None) -> int:
        """Store chunk `index`'s translations, their confidences and word alignments
        (idempotent); returns how many chunks are done."""
        done_key, progress = key("job", job_id, "chunks_done"), key("job", job_id, "progress")
        pipe = self.redis.pipeline()
        pipe.set(key("job", job_id, "chunk", str(index)), json.dumps(translations), ex=self.ttl)
        if alignments is not None:
            pipe.set(key("job", job_id, "alignment", str(index)), json.dumps(alignments),
                     ex=self.ttl)
        if confidences is not None:
            pipe.set(key("job", job_id, "confidence", str(index)), json.dumps(confidences),
                     ex=self.ttl)
        pipe.hset(progress, str(index), len(translations))
        pipe.sadd(done_key, index)
        pipe.expire(done_key, self.ttl)
        pipe.expire(progress, self.ttl)
        self.touch(job_id, pipe)
        pipe.scard(done_key)
        return pipe.execute()[-1]

    def save_pivot_chunk(self, job_id: str, index: int, translations: list[str],
                         confidences: list[float], alignments: list[list[int]] | None) -> None:
        """A pivoting document's chunk after its first step (into the pivot language)."""
        self.save_blob(job_id, f"pivot:{index}", json.dumps(
            {"translations": translations, "confidence": confidences,
             "alignment": alignments}))

    def pivot_chunk(self, job_id: str, index: int) -> dict | None:
        raw = self.get_blob(job_id, f"pivot:{index}")
        return json.loads(raw) if raw else None

    def chunks_done(self, job_id: str) -> int:
        return self.redis.scard(key("job", job_id, "chunks_done"))

    def claim_assembly(self, job_id: str) -> bool:
        """True for the one task that may assemble the document (the claim expires, so a
        task whose process died cannot hold it for good)."""
        return bool(self.redis.set(key("job", job_id, "assembling"), os.getpid(), nx=True,
                                   ex=ASSEMBLY_CLAIM_SECONDS))

    def load_translated(self, job: Job) -> tuple[Document, list[tuple[str, float | None]]]:
        """The segmented document and its (translation, confidence) pairs, chunk by chunk in
        order (a chunk translated by the previous release has no confidences: None)."""
        n = job.chunks
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(key("job", job.id, "layout"))
        pipe.mget([key("job", job.id, "source", str(i)) for i in range(n)])
        pipe.mget([key("job", job.id, "chunk", str(i)) for i in range(n)])
        pipe.mget([key("job", job.id, "confidence", str(i)) for i in range(n)])
        layout, sources, chunks, confidences = pipe.execute()[:4]
        layout = json.loads(layout)
        translations = []
        for raw, conf in zip(chunks, confidences):
            texts = json.loads(raw)
            scores = json.loads(conf) if conf else [None] * len(texts)
            translations.extend(zip(texts, scores))
        if all(s is None for s in sources) and layout and isinstance(layout[0][1], list):
            layout, sentences = _previous_layout(layout)
        else:
            sentences = [s for raw in sources for s in json.loads(raw)]
        return Document.from_layout(layout, sentences), translations

    def load_alignments(self, job: Job) -> list[list[int]] | None:
        """Every sentence's word alignment, chunk by chunk in order (None if a chunk has
        none: translated without, or by a release before alignments)."""
        raw = self.redis.mget([key("job", job.id, "alignment", str(i))
                               for i in range(job.chunks or 0)])
        if not raw or any(r is None for r in raw):
            return None
        return [a for r in raw for a in json.loads(r)]

    def save_output(self, job_id: str, data: bytes) -> None:
        """The translated file of a document job (idempotent: a whole value)."""
        self.redis.set(key("job", job_id, "output"), data, ex=self.ttl)

    def get_output(self, job_id: str) -> bytes | None:
        return self.redis.get(key("job", job_id, "output")) if valid_id(job_id) else None

    def drop_chunks(self, job: Job) -> None:
        """Delete an assembled document's per-chunk keys (its result holds them all)."""
        n = job.chunks or 0
        self.redis.delete(*[key("job", job.id, part, str(i))
                            for i in range(n)
                            for part in ("chunk", "confidence", "source", "alignment",
                                         "pivot")])

    # ------------------------------------------------------------------ system
    def cached_tests(self, job_ids: list[str]) -> list[dict] | None:
        """The leaderboard's significance tests cached for exactly these evaluations."""
        raw = self.redis.get(_leaderboard_key(job_ids))
        return json.loads(raw) if raw else None

    def cache_tests(self, job_ids: list[str], tests: list[dict]) -> None:
        self.redis.set(_leaderboard_key(job_ids), json.dumps(tests),
                       ex=LEADERBOARD_CACHE_SECONDS)

    def register_worker(self, name: str, info: dict) -> None:
        self.redis.hset(key("workers"), name, json.dumps(info))

    def unregister_worker(self, name: str) -> None:
        self.redis.hdel(key("workers"), name)

    def worker_info(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(key("workers")).items()}

    def list_lengths(self, names: list[str]) -> dict[str, int]:
        """Lengths of Redis lists by name (the broker's queues; read only)."""
        pipe = self.redis.pipeline()
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute()))

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False


def _previous_layout(layout: list) -> tuple[list, list[str]]:
    """(layout, sentences) of a document segmented by a worker of the previous release, whose
    layout held each line's sentences: [[indent, [sentence, ...]], ...]."""
    return ([(indent, len(line)) for indent, line in layout],
            [s for _, line in layout for s in line])


def _leaderboard_key(job_ids: list[str]) -> str:
    # a cache key, not a security boundary: SHA-1 names the set of evaluations
    return key("leaderboard", hashlib.sha1(",".join(job_ids).encode(),  # noqa: S324
                                           usedforsecurity=False).hexdigest())
