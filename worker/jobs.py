"""Job records in Redis and the submission API (`submit_*`, `get_job`, `list_jobs`, `cancel_job`).

The web uses this module: it sends tasks by name through the Celery app and reads records, and
never imports torch. Keys (all under the `nmt:` prefix, expiring after JOB_TTL):
- `job:<id>` hash: id, kind, status, pair, model, beam, created/started/finished (epoch seconds),
  done/total (sentences), input_chars, output_chars, error, scores (JSON), filename, ...;
- `job:<id>:input`, `job:<id>:reference`: the submitted text (bytes, as received);
- `job:<id>:result`: the output as JSON; `job:<id>:progress`: sentences done per chunk;
- `job:<id>:chunk:<i>` and the set `job:<id>:chunks_done`: a document's translated chunks;
- `job:<id>:pending` hash: task id -> {name, args, queue} of each task sent for the job and
  not yet finished (what the stalled-job recovery re-sends if the broker lost its message);
- `jobs`: a sorted set of ids by creation time (the index for listing);
- `active`: a sorted set of the unfinished jobs by their last activity (creation, start,
  progress), which the recovery sweep reads; `recovering`: the sweep's claim for its period.
Status moves queued -> running -> done | failed | cancelled; a finished status is final (a Lua
script checks it atomically), so a late or redelivered task cannot overwrite a cancellation.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

from .celery_app import (
    DOCUMENT_TASK,
    EVAL_QUEUE,
    EVALUATE_TASK,
    TEXT_TASK,
    docs_queue,
    text_queue,
)
from .settings import Settings, valid_pair

PREFIX = "nmt:"
FINAL = ("done", "failed", "cancelled")
KINDS = ("text", "document", "evaluation")

# Update a job's fields unless its status is final (or the caller may overwrite it: ARGV[1]=1);
# ARGV[2] is the job id, then field/value pairs. Field values are JSON, so a status reads
# '"done"'. A job given a final status leaves the activity index KEYS[2].
_UPDATE = """
local function final(s) return s == '"done"' or s == '"failed"' or s == '"cancelled"' end
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if ARGV[1] == '0' and final(status) then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if ARGV[i] == 'status' and final(ARGV[i + 1]) then redis.call('ZREM', KEYS[2], ARGV[2]) end
end
return 1
"""

# Mark a queued job running and record its activity in KEYS[2] (ARGV: now, job id); returns
# its (JSON) status, or nil if there is no such job.
_START = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return nil end
if status == '"queued"' then
  redis.call('HSET', KEYS[1], 'status', '"running"', 'started', ARGV[1])
  status = '"running"'
end
if status == '"running"' then redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[2]) end
return status
"""

# The task ids (kombu's `correlation_id`) among ARGV that are in one of the lists KEYS[1..n-1]
# (queues) or the hash KEYS[n] (kombu's unacknowledged messages): one pass over each.
_FIND_MESSAGES = """
local want, found = {}, {}
for i = 1, #ARGV do want[ARGV[i]] = true end
local pattern = '"correlation_id": "([^"]+)"'
local function check(message)
  -- kombu writes the properties last: look in the tail before the whole (large) message
  local id = string.match(string.sub(message, -1024), pattern) or string.match(message, pattern)
  if id and want[id] then
    found[#found + 1] = id
    want[id] = nil
  end
end
for k = 1, #KEYS - 1 do
  local n = redis.call('LLEN', KEYS[k])
  for first = 0, n - 1, 1000 do
    for _, message in ipairs(redis.call('LRANGE', KEYS[k], first, first + 999)) do
      check(message)
    end
  end
end
for _, message in ipairs(redis.call('HVALS', KEYS[#KEYS])) do check(message) end
return found
"""
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's priority lists


class JobError(Exception):
    """A job request that cannot be served; `status` is the HTTP status the web should answer."""

    status = 400

    def __init__(self, message: str, job: dict | None = None):
        super().__init__(message)
        self.message, self.job = message, job


class InputError(JobError):
    status = 422


class TooLargeError(InputError):
    """An input over a size limit (the web answers 413)."""

    status = 413


class JobNotFound(JobError):
    status = 404


class JobStateError(JobError):
    status = 409


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def decode_document(data: bytes | str, max_bytes: int) -> str:
    """The text of an uploaded document; raises InputError for empty, too large, binary or
    non-UTF-8 input."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise TooLargeError(f"the document has {len(raw):,} bytes; the limit is "
                            f"{max_bytes:,}")
    if b"\x00" in raw:
        raise InputError("the document is a binary file, not UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the document is not valid UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise InputError("the document is empty")
    return text


class JobStore:
    """Job records and submission on one Redis (the broker's)."""

    def __init__(self, settings: Settings, celery_app=None, patient: bool = False):
        """`patient` (the workers): ride out a Redis restart by retrying each command with
        backoff for about a minute; otherwise (the web) fail fast so the page can say 503."""
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self.settings = settings
        retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=40 if patient else 1)
        self.redis = redis.Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0",
                                          socket_timeout=10, socket_connect_timeout=3,
                                          health_check_interval=15, retry=retry,
                                          retry_on_error=[redis.ConnectionError,
                                                          redis.TimeoutError])
        self._update = self.redis.register_script(_UPDATE)
        self._start = self.redis.register_script(_START)
        self._find_messages = self.redis.register_script(_FIND_MESSAGES)
        self._app = celery_app

    @property
    def app(self):
        if self._app is None:
            from .celery_app import app

            self._app = app
        return self._app

    # ------------------------------------------------------------------ records
    def create(self, kind: str, pair: str, blobs: dict[str, bytes | str] | None = None,
               **fields: Any) -> dict:
        """Write a new queued job record (and its input blobs) in one round trip."""
        job_id = uuid.uuid4().hex
        now = time.time()
        record = {"id": job_id, "kind": kind, "status": "queued", "pair": pair,
                  "created": now, "done": 0, "total": 0, **fields}
        ttl = self.settings.job_ttl
        pipe = self.redis.pipeline()
        pipe.hset(key("job", job_id), mapping=_encode(record))
        pipe.expire(key("job", job_id), ttl)
        for name, value in (blobs or {}).items():
            pipe.set(key("job", job_id, name), value, ex=ttl)
        pipe.zadd(key("jobs"), {job_id: now})
        if fields.get("status", "queued") not in FINAL:
            pipe.zadd(key("active"), {job_id: now})
        if kind == "evaluation":
            pipe.zadd(key("evaluations"), {job_id: now})
        pipe.execute()
        return record

    def update(self, job_id: str, force: bool = False, **fields: Any) -> bool:
        """Set fields unless the job is finished (force: even then); False if not applied."""
        args = ["1" if force else "0", job_id]
        for name, value in _encode(fields).items():
            args += [name, value]
        return self._update(keys=[key("job", job_id), key("active")], args=args) == 1

    def touch(self, job_id: str, pipe=None) -> None:
        """Record activity on an unfinished job (the recovery sweep leaves it alone)."""
        (pipe or self.redis).zadd(key("active"), {job_id: time.time()}, xx=True)

    # ------------------------------------------------------------------ tasks
    def dispatch(self, job_id: str, tasks: list[tuple[str, list, str]]) -> list[str]:
        """Send tasks (name, args, queue) for a job, first recording each under a new task id
        in the job's pending hash; returns the ids. A task removes its entry when it finishes
        (`task_finished`), so an entry whose message is in no queue and not held by a worker
        marks a task the broker lost (see `recover_stalled`)."""
        ids = [uuid.uuid4().hex for _ in tasks]
        pending = key("job", job_id, "pending")
        pipe = self.redis.pipeline()
        for task_id, (name, args, queue) in zip(ids, tasks):
            pipe.hset(pending, task_id, json.dumps({"name": name, "args": args, "queue": queue}))
        pipe.expire(pending, self.settings.job_ttl)
        pipe.execute()
        for task_id, (name, args, queue) in zip(ids, tasks):
            self.app.send_task(name, args=args, queue=queue, task_id=task_id)
        return ids

    def task_finished(self, job_id: str, task_id: str) -> None:
        self.redis.hdel(key("job", job_id, "pending"), task_id)

    def pending_tasks(self, job_id: str) -> dict[str, dict]:
        raw = self.redis.hgetall(key("job", job_id, "pending"))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def find_messages(self, queues: list[str], task_ids: list[str]) -> set[str]:
        """Which of `task_ids` have a message in one of `queues` or held unacknowledged by a
        worker (one server-side pass over those lists and kombu's unacked hash)."""
        if not task_ids:
            return set()
        unacked = (self.app.conf.broker_transport_options or {}).get("unacked_key", "unacked")
        lists = [q + suffix for q in queues for suffix in PRIORITY_SUFFIXES]
        found = self._find_messages(keys=[*lists, unacked], args=task_ids)
        return {f.decode() if isinstance(f, bytes) else f for f in found}

    def recover_stalled(self, stall_after: float, confirm_after: float = 1.0,
                        limit: int = 500) -> dict[str, int]:
        """Re-send the lost tasks of jobs with no activity for `stall_after` seconds.

        A Redis broker hands a message to a worker with a pop; a worker killed after the pop
        and before it records the message as unacknowledged loses it, and the visibility
        timeout never brings it back. So each pending task of an idle job whose message is
        neither in its queue nor held by a worker, at two looks `confirm_after` seconds apart
        (a live worker's pop-to-record window lasts microseconds), and that is still pending at
        the second look, is re-sent under the same task id (tasks are idempotent: a duplicate
        rewrites the same values). Idleness only limits the work: a running task's message
        is in kombu's unacked hash, a waiting one in its queue. One sweeper acts per period
        (a claim that expires if it dies). Returns {job id: tasks re-sent} for the jobs
        examined."""
        stalled = [raw.decode() for raw in self.redis.zrangebyscore(
            key("active"), 0, time.time() - stall_after, start=0, num=limit)]
        if not stalled or not self.redis.set(key("recovering"), 1, nx=True,
                                             ex=max(1, round(stall_after))):
            return {}
        pending = self._pending_of(stalled)
        missing = self._missing(pending)
        if missing and confirm_after > 0:
            time.sleep(confirm_after)
            missing = self._missing(self._pending_of(list(missing)))
        for tasks in missing.values():
            for task_id, task in tasks.items():
                self.app.send_task(task["name"], args=task["args"], queue=task["queue"],
                                   task_id=task_id)
        pipe = self.redis.pipeline()
        for job_id in pending:
            self.touch(job_id, pipe)
        pipe.execute()
        return {job_id: len(missing.get(job_id, {})) for job_id in pending}

    def _pending_of(self, job_ids: list[str]) -> dict[str, dict[str, dict]]:
        """{job id: its pending tasks} for the unfinished jobs among `job_ids`; finished or
        expired ones leave the activity index."""
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            pipe.hget(key("job", job_id), "status")
            pipe.hgetall(key("job", job_id, "pending"))
        replies = pipe.execute()
        out = {}
        for job_id, status, raw in zip(job_ids, replies[::2], replies[1::2]):
            if status is None or json.loads(status) in FINAL:
                self.redis.zrem(key("active"), job_id)
            else:
                out[job_id] = {k.decode(): json.loads(v) for k, v in raw.items()}
        return out

    def _missing(self, pending: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
        """The pending tasks whose message is in no queue and held by no worker (one pass)."""
        queues = sorted({t["queue"] for tasks in pending.values() for t in tasks.values()})
        present = self.find_messages(queues, [t for tasks in pending.values() for t in tasks])
        out = {}
        for job_id, tasks in pending.items():
            lost = {task_id: task for task_id, task in tasks.items() if task_id not in present}
            if lost:
                out[job_id] = lost
        return out

    def start(self, job_id: str) -> str | None:
        """Mark a queued job running (one round trip); its status, None if there is none."""
        status = self._start(keys=[key("job", job_id), key("active")],
                             args=[json.dumps(time.time()), job_id])
        return json.loads(status) if status else None

    def finish(self, job_id: str, status: str, **fields: Any) -> bool:
        return self.update(job_id, status=status, finished=time.time(), **fields)

    def fail(self, job_id: str, error: str) -> bool:
        return self.finish(job_id, "failed", error=error)

    def get_job(self, job_id: str) -> dict | None:
        return self.get_jobs([job_id])[0]

    def get_jobs(self, job_ids: list[str]) -> list[dict | None]:
        """The records of `job_ids` (None where there is none), read in one round trip."""
        valid = [j for j in job_ids if _valid_id(j)]
        pipe = self.redis.pipeline(transaction=False)
        for job_id in valid:
            pipe.hgetall(key("job", job_id))
            pipe.hvals(key("job", job_id, "progress"))
        replies = iter(pipe.execute() if valid else [])
        found = {job_id: _record(next(replies), next(replies)) for job_id in valid}
        return [found.get(job_id) for job_id in job_ids]

    def require_job(self, job_id: str) -> dict:
        """The job's record; raises JobNotFound."""
        job = self.get_job(job_id)
        if job is None:
            raise JobNotFound(f"no job {str(job_id)[:40]!r} (it may have expired)")
        return job

    def require_result(self, job_id: str) -> tuple[dict, dict]:
        """(record, result) of a finished job; raises JobNotFound, or JobStateError while it
        has no result."""
        job = self.require_job(job_id)
        result = self.get_result(job_id) if job["status"] == "done" else None
        if result is None:
            raise JobStateError(f"job {job_id} has no result yet (status {job['status']})", job)
        return job, result

    def get_result(self, job_id: str) -> dict | None:
        raw = self.redis.get(key("job", job_id, "result")) if _valid_id(job_id) else None
        return json.loads(raw) if raw else None

    def status(self, job_id: str) -> str | None:
        """The job's status alone (one HGET), for checks inside hot loops."""
        raw = self.redis.hget(key("job", job_id), "status")
        return json.loads(raw) if raw else None

    def get_blob(self, job_id: str, name: str) -> bytes | None:
        return self.redis.get(key("job", job_id, name)) if _valid_id(job_id) else None

    def list_jobs(self, offset: int = 0, limit: int = 20) -> tuple[list[dict], int]:
        """Newest first; returns (jobs, total). Ids whose record expired are dropped."""
        total = self.redis.zcard(key("jobs"))
        ids = self.redis.zrevrange(key("jobs"), offset, offset + limit - 1)
        jobs, expired = [], []
        for raw_id, job in zip(ids, self.get_jobs([i.decode() for i in ids])):
            (jobs if job else expired).append(job or raw_id)
        if expired:
            self.redis.zrem(key("jobs"), *expired)
        return jobs, total - len(expired)

    def list_evaluations(self, limit: int = 500) -> list[dict]:
        """Finished evaluation jobs, newest first."""
        ids = self.redis.zrevrange(key("evaluations"), 0, limit - 1)
        jobs = self.get_jobs([i.decode() for i in ids])
        return [j for j in jobs if j and j["status"] == "done"]

    # ------------------------------------------------------------------ submission
    def check_pair(self, pair: str) -> str:
        pair = str(pair).strip().lower()
        known = self.settings.model_paths()
        if not valid_pair(pair) or pair not in known:
            raise InputError(f"unknown language pair {pair!r}; served pairs: "
                             f"{', '.join(sorted(known)) or 'none'}")
        return pair

    def check_beam(self, beam_size: Any) -> int:
        beam = self.settings.beam_size if beam_size is None else beam_size
        if not isinstance(beam, int) or isinstance(beam, bool) or not 1 <= beam <= 12:
            raise InputError("beam_size must be an integer from 1 to 12")
        return beam

    def _rejected(self, kind: str, pair: str, exc: InputError, **fields: Any) -> InputError:
        """Record a rejected request as a failed job (so it shows in the list) and return it."""
        job = self.create(kind, str(pair)[:40], **fields)
        self.fail(job["id"], exc.message)
        exc.job = self.get_job(job["id"])
        return exc

    def submit_text(self, segments: list[str] | str, pair: str, beam_size: int | None = None,
                    reference: list[str] | str | None = None) -> dict:
        """Queue a text job: one segment or a list. Raises InputError (recorded as a failed job)."""
        single = isinstance(segments, str)
        try:
            pair = self.check_pair(pair)
            beam = self.check_beam(beam_size)
            segs = _segments(segments, self.settings)
            refs = _segments(reference, self.settings, "reference") if reference else None
            if refs is not None and len(refs) != len(segs):
                raise InputError(f"{len(refs)} reference segments for {len(segs)} segments")
        except InputError as exc:
            raise self._rejected("text", pair, exc) from None
        job = self.create("text", pair, beam=beam, total=len(segs), single=single,
                          input_chars=sum(map(len, segs)), has_reference=refs is not None,
                          model=self.settings.model_paths()[pair],
                          blobs={"input": json.dumps(segs),
                                 **({"reference": json.dumps(refs)} if refs is not None else {})})
        self.dispatch(job["id"], [(TEXT_TASK, [job["id"], pair, segs, beam], text_queue(pair))])
        return _with_timings(job)

    def submit_document(self, data: bytes | str, pair: str, beam_size: int | None = None,
                        reference: bytes | str | None = None, filename: str | None = None
                        ) -> dict:
        """Queue a document job (text up to MAX_DOCUMENT_BYTES, kept with its layout)."""
        fields = {"filename": (filename or "")[:200]}
        try:
            pair = self.check_pair(pair)
            beam = self.check_beam(beam_size)
            text = decode_document(data, self.settings.max_document_bytes)
            ref = (decode_document(reference, self.settings.max_document_bytes)
                   if reference else None)
        except InputError as exc:
            raise self._rejected("document", pair, exc, **fields) from None
        blobs = {"input": text.encode("utf-8")}
        if ref is not None:
            blobs["reference"] = ref.encode("utf-8")
        job = self.create("document", pair, beam=beam, input_chars=len(text),
                          has_reference=ref is not None, model=self.settings.model_paths()[pair],
                          blobs=blobs, **fields)
        self.dispatch(job["id"], [(DOCUMENT_TASK, [job["id"]], docs_queue(pair))])
        return _with_timings(job)

    def submit_evaluation(self, checkpoint: str, testset: str | None = None,
                          source: bytes | str | None = None, reference: bytes | str | None = None,
                          beam_size: int | None = None) -> dict:
        """Queue an evaluation of a known checkpoint (by name) on a named test set
        (`test_2016_flickr` of the checkpoint's pair) or on uploaded source and reference."""
        fields = {"model": str(checkpoint)[:300], "testset": testset or "upload"}
        try:
            known = self.known_checkpoints()
            if checkpoint not in known:
                raise InputError(f"unknown checkpoint {str(checkpoint)[:100]!r}: choose one of "
                                 f"the listed checkpoints")
            beam = self.check_beam(beam_size)
            if testset is not None and source is None and reference is None:
                if not testset.replace("_", "").isalnum():
                    raise InputError(f"unknown test set {testset[:50]!r}")
            elif source is not None and reference is not None:
                src = decode_document(source, self.settings.max_document_bytes)
                ref = decode_document(reference, self.settings.max_document_bytes)
                if len(src.splitlines()) != len(ref.splitlines()):
                    raise InputError(f"source has {len(src.splitlines())} lines, reference "
                                     f"{len(ref.splitlines())}")
            else:
                raise InputError("give a test set name, or both a source and a reference")
        except InputError as exc:
            raise self._rejected("evaluation", "", exc, **fields) from None
        blobs = ({"input": src.encode("utf-8"), "reference": ref.encode("utf-8")}
                 if source is not None else None)
        job = self.create("evaluation", "", beam=beam, blobs=blobs, **fields)
        self.dispatch(job["id"], [(EVALUATE_TASK, [job["id"], known[checkpoint]], EVAL_QUEUE)])
        return _with_timings(job)

    def cancel_job(self, job_id: str) -> dict:
        """Cancel a queued or running job: its tasks are revoked and running chunks stop at
        their next batch. Raises JobNotFound, or JobStateError if it has already finished."""
        job = self.require_job(job_id)
        if not self.update(job_id, status="cancelled", finished=time.time(),
                           error="cancelled by the user"):
            raise JobStateError(f"job {job_id} has already finished ({job['status']})", job)
        task_ids = list(self.pending_tasks(job_id))
        if task_ids:
            self.app.control.revoke(task_ids)
        return self.get_job(job_id)

    # ------------------------------------------------------------------ system
    def known_checkpoints(self) -> dict[str, str]:
        """{name: path} of the checkpoints that can be evaluated: the served models
        (named by pair) and `*.pt` files in the run directories of CHECKPOINT_DIRS
        (named `run/file.pt`). Only these names are accepted, so no path comes from a user."""
        from pathlib import Path

        out = {f"{pair} ({Path(path).name})": path
               for pair, path in self.settings.model_paths().items()}
        for root in self.settings.checkpoint_roots():
            if not root.is_dir():
                continue
            for path in sorted(root.glob("*/*.pt")):
                out[f"{path.parent.name}/{path.name}"] = str(path)
        return out

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def workers(self, timeout: float = 1.0) -> list[dict]:
        """Online workers (answering a Celery broadcast) with their queues and models."""
        replies = self.app.control.inspect(timeout=timeout).active_queues() or {}
        info = {k.decode(): json.loads(v)
                for k, v in self.redis.hgetall(key("workers")).items()}
        out = []
        for name, queues in sorted(replies.items()):
            names = [q["name"] for q in queues]
            out.append({"name": name, "queues": names, **info.get(name, {})})
        return out

    def queue_lengths(self) -> dict[str, int]:
        names = []
        for pair in self.settings.model_paths():
            names += [text_queue(pair), docs_queue(pair)]
        names.append(EVAL_QUEUE)
        pipe = self.redis.pipeline()
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute()))


def _segments(value: Any, settings: Settings, what: str = "text") -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InputError(f"{what} must be a string or a list of strings")
    if not value or not any(s.strip() for s in value):
        raise InputError(f"{what} is empty")
    if len(value) > settings.max_segments:
        raise TooLargeError(f"{what} has {len(value)} segments; the limit is "
                            f"{settings.max_segments}")
    chars = sum(map(len, value))
    if chars > settings.max_text_chars:
        raise TooLargeError(f"{what} has {chars:,} characters; the limit is "
                         f"{settings.max_text_chars:,} (use a document job for longer texts)")
    if any("\x00" in s for s in value):
        raise InputError(f"{what} contains NUL characters")
    return value


def _valid_id(job_id: Any) -> bool:
    return isinstance(job_id, str) and len(job_id) == 32 and all(
        c in "0123456789abcdef" for c in job_id)


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in fields.items()}


def _decode(raw: dict[bytes, bytes]) -> dict[str, Any]:
    return {k.decode(): json.loads(v) for k, v in raw.items()}


def _record(raw: dict[bytes, bytes], progress: list[bytes]) -> dict | None:
    """A job record from its hash and its per-chunk progress (summed while it runs)."""
    if not raw:
        return None
    job = _decode(raw)
    if progress and job.get("status") != "done":
        job["done"] = sum(int(v) for v in progress)
    return _with_timings(job)


def _with_timings(job: dict) -> dict:
    start, end = job.get("started"), job.get("finished")
    job["queued_seconds"] = (start or end or time.time()) - job["created"]
    job["run_seconds"] = ((end or time.time()) - start) if start else None
    total = job.get("total") or 0
    job["progress"] = (job.get("done", 0) / total) if total else (
        1.0 if job["status"] == "done" else 0.0)
    return job


_default: JobStore | None = None


def store() -> JobStore:
    """The process-wide JobStore built from the environment's settings."""
    global _default
    if _default is None:
        from .celery_app import app

        _default = JobStore(app.settings, app)
    return _default


def submit_text(*args, **kwargs) -> dict:
    return store().submit_text(*args, **kwargs)


def submit_document(*args, **kwargs) -> dict:
    return store().submit_document(*args, **kwargs)


def submit_evaluation(*args, **kwargs) -> dict:
    return store().submit_evaluation(*args, **kwargs)


def get_job(job_id: str) -> dict | None:
    return store().get_job(job_id)


def list_jobs(offset: int = 0, limit: int = 20) -> tuple[list[dict], int]:
    return store().list_jobs(offset, limit)


def cancel_job(job_id: str) -> dict:
    return store().cancel_job(job_id)
