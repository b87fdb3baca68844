"""Celery tasks: thin JSON-in/JSON-out wrappers around `translator`, writing job records.

Every write is idempotent (SET of a whole value, SADD, HSET), so a task that Redis redelivers
after its worker died writes the same output again, never a second copy. A task first checks its
job's status: a cancelled or finished job is skipped.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import threading
import time
from typing import Any

import redis
from billiard.exceptions import TimeLimitExceeded
from celery import Task, signals
from celery.exceptions import Reject, SoftTimeLimitExceeded

from .batcher import MicroBatcher
from .celery_app import (
    CHUNK_TASK,
    DOCUMENT_TASK,
    EVALUATE_TASK,
    RESTORE_INTERVAL,
    STALL_AFTER,
    TEXT_TASK,
    app,
    docs_queue,
)
from .jobs import FINAL, InputError, JobStore, decode_document, key

log = logging.getLogger("worker")


def requeue_on_redis_error(fn):
    """Redis errors: the store's client already retries each command for about a minute (a
    Redis restart is ridden out inside the task). If Redis stays away longer, the task is
    rejected *with requeue*, so the message goes back to its queue (or, if even that fails,
    stays unacknowledged and is redelivered after VISIBILITY_TIMEOUT). Celery's autoretry is
    not used: it must publish a new message, and with the broker down it drops the task."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            log.warning("Redis unavailable (%s); the task goes back to its queue", exc)
            raise Reject(str(exc), requeue=True) from None

    return wrapper


class Cancelled(Exception):
    pass


def progress_reporter(store: JobStore, job_id: str, part: str):
    """`on_batch` for Translator.translate: record sentences done for this part of the job
    (one hash field per chunk, so a redelivered chunk overwrites, never adds) and the job's
    activity, and stop with Cancelled once the job is cancelled (one round trip)."""
    progress_key = key("job", job_id, "progress")

    def on_batch(n: int) -> None:
        pipe = store.redis.pipeline(transaction=False)
        pipe.hset(progress_key, part, n)
        store.touch(job_id, pipe)
        pipe.hget(key("job", job_id), "status")
        if pipe.execute()[-1] == b'"cancelled"':
            raise Cancelled

    return on_batch


class JobTask(Task):
    """Base of the job tasks. A task killed by the hard time limit never reaches its own
    error handling, so the worker's main process records the failure on the job here."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if isinstance(exc, TimeLimitExceeded) and args:
            try:
                job_store().fail(args[0], f"the job ran longer than the hard time limit "
                                          f"({app.settings.time_limit} s); it was stopped")
            except redis.RedisError:
                log.warning("job %s: could not record the hard time limit", args[0])

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        """The task ran to an end (not a retry or a requeue): it is no longer pending."""
        if args:
            try:
                job_store().task_finished(args[0], task_id)
            except redis.RedisError:  # the entry stays; recovery finds the job finished
                log.warning("job %s: could not clear the finished task %s", args[0], task_id)


# ---------------------------------------------------------------------------- per process state
_store: JobStore | None = None
_models: dict[str, Any] = {}
_models_lock = threading.Lock()
_batcher: MicroBatcher | None = None


def job_store() -> JobStore:
    global _store
    if _store is None:
        _store = JobStore(app.settings, app, patient=True)
    return _store


def translator_for(pair: str):
    """The process's Translator for `pair`, loaded on first use (CheckpointError if unusable)."""
    with _models_lock:
        if pair not in _models:
            from translator import Translator
            from translator.checkpoint import CheckpointError

            settings = app.settings
            path = settings.model_paths().get(pair)
            if path is None or pair not in settings.served_pairs():
                raise CheckpointError(f"this worker does not serve the pair {pair}")
            started = time.perf_counter()
            _models[pair] = Translator.from_checkpoint(path, threads=settings.torch_threads)
            log.info("loaded %s for %s in %.1f s", path, pair, time.perf_counter() - started)
        return _models[pair]


def batcher() -> MicroBatcher:
    global _batcher
    if _batcher is None:
        # The decoding thread releases the GIL in every torch op and must get it back quickly
        # from the task threads (Redis I/O, JSON): a short switch interval keeps it from
        # waiting up to 5 ms (Python's default) after each op.
        sys.setswitchinterval(0.0001)
        window = app.settings.batch_window_ms / 1000
        _batcher = MicroBatcher(_run_batch, window=window, max_wait=10 * window)
    return _batcher


def _run_batch(key_: tuple[str, int], segments: list[str]) -> list[str]:
    pair, beam = key_
    return translator_for(pair).translate(segments, beam_size=beam,
                                          batch_tokens=app.settings.batch_tokens)


def _claim(store: JobStore, job_id: str) -> bool:
    """Mark the job running; False (logged) if it is gone, cancelled or already finished."""
    status = store.start(job_id)
    if status is None or status in FINAL:
        log.info("job %s: skipped (%s)", job_id, status or "no record")
        return False
    return True


def _start(store: JobStore, job_id: str) -> dict | None:
    """The job, marked running; None if it is gone, cancelled or already finished."""
    return store.get_job(job_id) if _claim(store, job_id) else None


def _user_message(exc: BaseException) -> str:
    from translator.checkpoint import CheckpointError
    from translator.data import CorpusError

    if isinstance(exc, SoftTimeLimitExceeded):
        return (f"the job ran longer than the time limit ({app.settings.soft_time_limit} s) "
                "and was stopped")
    if isinstance(exc, (CheckpointError, CorpusError, InputError, ValueError)):
        return str(exc)
    return f"internal error ({type(exc).__name__}); the worker log has the details"


def _fail(store: JobStore, job_id: str, exc: BaseException) -> dict:
    message = _user_message(exc)
    if message.startswith("internal error"):
        log.exception("job %s failed", job_id)
    else:
        log.warning("job %s failed: %s", job_id, message)
    store.fail(job_id, message)
    return {"job_id": job_id, "status": "failed", "error": message}


def _scores(hyps: list[str], refs: list[str]) -> dict:
    from translator.metrics import score

    return score(hyps, refs)


# ---------------------------------------------------------------------------- text
@app.task(name=TEXT_TASK, bind=True, base=JobTask)
@requeue_on_redis_error
def translate_text(self, job_id: str, pair: str, segments: list[str], beam: int) -> dict:
    """Translate a few segments (micro-batched with concurrent requests)."""
    store = job_store()
    if not _claim(store, job_id):
        return {"job_id": job_id, "status": "skipped"}
    try:
        translations = batcher().translate((pair, beam), segments)
        fields: dict[str, Any] = {}
        ref = store.get_blob(job_id, "reference")
        if ref:
            fields["scores"] = _scores(translations, json.loads(ref))
    except redis.RedisError:
        raise
    except Exception as exc:
        return _fail(store, job_id, exc)
    store.redis.set(key("job", job_id, "result"), json.dumps({"translations": translations}),
                    ex=app.settings.job_ttl)
    store.finish(job_id, "done", done=len(segments),
                 output_chars=sum(map(len, translations)), **fields)
    log.info("job %s: %d segment(s) translated", job_id, len(segments))
    return {"job_id": job_id, "status": "done", "translations": translations}


# ---------------------------------------------------------------------------- documents
@app.task(name=DOCUMENT_TASK, bind=True, base=JobTask)
@requeue_on_redis_error
def translate_document(self, job_id: str) -> dict:
    """Segment a document and fan its sentences out as chunk tasks on the pair's batch queue."""
    from translator.document import segment_document

    store = job_store()
    job = _start(store, job_id)
    if job is None:
        return {"job_id": job_id, "status": "skipped"}
    settings = app.settings
    try:
        text = decode_document(store.get_blob(job_id, "input") or b"",
                               settings.max_document_bytes)
        doc = segment_document(text, job["pair"].split("-")[0])
        sentences = doc.sentences
        if not sentences:
            raise InputError("the document has no text to translate")
    except Exception as exc:
        return _fail(store, job_id, exc)
    size = settings.chunk_sentences
    n_chunks = (len(sentences) + size - 1) // size
    layout = [[line.indent, list(line.sentences)] for line in doc.lines]
    ttl = settings.job_ttl
    store.redis.set(key("job", job_id, "layout"), json.dumps(layout), ex=ttl)
    store.update(job_id, total=len(sentences), chunks=n_chunks, chunk_size=size)
    store.dispatch(job_id, [(CHUNK_TASK, [job_id, index], docs_queue(job["pair"]))
                            for index in range(n_chunks)])
    log.info("job %s: %d sentences in %d chunk(s)", job_id, len(sentences), n_chunks)
    return {"job_id": job_id, "status": "running", "chunks": n_chunks}


def _layout_sentences(layout: list) -> list[str]:
    return [s for _, sentences in layout for s in sentences]


@app.task(name=CHUNK_TASK, bind=True, base=JobTask)
@requeue_on_redis_error
def translate_chunk(self, job_id: str, index: int) -> dict:
    """Translate sentences [index * size, (index + 1) * size) of a document job, reporting
    progress after every batch; the task that completes the last chunk assembles the result."""
    store = job_store()
    job = _start(store, job_id)
    if job is None:
        return {"job_id": job_id, "status": "skipped"}
    done_key = key("job", job_id, "chunks_done")
    if not store.redis.sismember(done_key, index):
        try:
            layout = json.loads(store.get_blob(job_id, "layout"))
            size = job["chunk_size"]
            sentences = _layout_sentences(layout)[index * size: (index + 1) * size]
            translator = translator_for(job["pair"])
            out = translator.translate(sentences, beam_size=job["beam"],
                                       batch_tokens=app.settings.batch_tokens,
                                       on_batch=progress_reporter(store, job_id, str(index)))
        except Cancelled:
            log.info("job %s: chunk %d stopped (cancelled)", job_id, index)
            return {"job_id": job_id, "status": "cancelled"}
        except redis.RedisError:
            raise
        except Exception as exc:
            return _fail(store, job_id, exc)
        ttl = app.settings.job_ttl
        pipe = store.redis.pipeline()
        pipe.set(key("job", job_id, "chunk", str(index)), json.dumps(out), ex=ttl)
        pipe.hset(key("job", job_id, "progress"), str(index), len(sentences))
        pipe.sadd(done_key, index)
        pipe.expire(done_key, ttl)
        pipe.expire(key("job", job_id, "progress"), ttl)
        store.touch(job_id, pipe)
        pipe.execute()
        log.info("job %s: chunk %d done (%d sentences)", job_id, index, len(sentences))
    if store.redis.scard(done_key) == job["chunks"] and not _assemble(store, job):
        raise self.retry(countdown=5, max_retries=60)  # another task holds the assembly lock
    return {"job_id": job_id, "status": "chunk done", "chunk": index}


def _assemble(store: JobStore, job: dict) -> bool:
    """Join the chunks in order, rebuild the layout, score against a reference, finish.
    False if another task is assembling (its lock expires if that task's process died)."""
    from translator.document import Document, Line

    job_id = job["id"]
    if not store.redis.set(key("job", job_id, "assembling"), os.getpid(), nx=True, ex=60):
        return False
    layout = json.loads(store.get_blob(job_id, "layout"))
    chunk_keys = [key("job", job_id, "chunk", str(i)) for i in range(job["chunks"])]
    chunks = [json.loads(raw) for raw in store.redis.mget(chunk_keys)]
    translations = [t for chunk in chunks for t in chunk]
    doc = Document(tuple(Line(indent, tuple(sents)) for indent, sents in layout))
    text = doc.assemble(translations)
    sources = doc.sentences
    result = {"text": text, "sentences": [[s, t] for s, t in zip(sources, translations)]}
    fields: dict[str, Any] = {}
    ref = store.get_blob(job_id, "reference")
    if ref:
        out_lines = [ln for ln in text.split("\n") if ln.strip()]
        ref_lines = [ln for ln in ref.decode("utf-8").splitlines() if ln.strip()]
        if len(out_lines) == len(ref_lines):
            fields["scores"] = _scores(out_lines, ref_lines)
        else:
            fields["scores_error"] = (f"the reference has {len(ref_lines)} non-blank lines and "
                                      f"the translation {len(out_lines)}: not scored")
    ttl = app.settings.job_ttl
    store.redis.set(key("job", job_id, "result"), json.dumps(result), ex=ttl)
    store.finish(job_id, "done", done=len(translations), output_chars=len(text), **fields)
    store.redis.delete(*chunk_keys)
    log.info("job %s: document assembled (%d sentences)", job_id, len(translations))
    return True


# ---------------------------------------------------------------------------- evaluation
_eval_cache: dict[str, Any] = {}


@app.task(name=EVALUATE_TASK, bind=True, base=JobTask)
@requeue_on_redis_error
def evaluate_checkpoint(self, job_id: str, checkpoint: str) -> dict:
    """Translate a test set with a checkpoint; store BLEU, chrF, TER (signatures) and hypotheses."""
    store = job_store()
    job = _start(store, job_id)
    if job is None:
        return {"job_id": job_id, "status": "skipped"}
    try:
        from translator import Translator
        from translator.data import read_split

        if checkpoint not in _eval_cache:  # keep the last one: leaderboards re-use it
            _eval_cache.clear()
            _eval_cache[checkpoint] = Translator.from_checkpoint(
                checkpoint, threads=app.settings.torch_threads)
        translator = _eval_cache[checkpoint]
        pair = f"{translator.src_lang}-{translator.tgt_lang}"
        store.update(job_id, pair=pair)
        source = store.get_blob(job_id, "input")
        if source is not None:
            src = source.decode("utf-8").splitlines()
            refs = store.get_blob(job_id, "reference").decode("utf-8").splitlines()
        else:
            test = read_split(app.settings.testsets_dir, job["testset"], translator.src_lang,
                              translator.tgt_lang)
            src, refs = test.src, test.tgt
        store.update(job_id, total=len(src))
        hyps = translator.translate(src, beam_size=job["beam"],
                                    batch_tokens=app.settings.batch_tokens,
                                    on_batch=progress_reporter(store, job_id, "0"))
        scores = _scores(hyps, refs)
    except Cancelled:
        return {"job_id": job_id, "status": "cancelled"}
    except redis.RedisError:
        raise
    except Exception as exc:
        return _fail(store, job_id, exc)
    store.redis.set(key("job", job_id, "result"),
                    json.dumps({"hypotheses": hyps, "references": refs}),
                    ex=app.settings.job_ttl)
    store.finish(job_id, "done", done=len(src), scores=scores, output_chars=sum(map(len, hyps)))
    log.info("job %s: %s BLEU %.2f", job_id, checkpoint, scores["bleu"])
    return {"job_id": job_id, "status": "done", "scores": scores}


# ---------------------------------------------------------------------------- worker registry
@signals.worker_ready.connect
def _register(sender=None, **_):
    settings = app.settings
    pairs = settings.served_pairs()
    info = {"pairs": pairs, "models": {p: settings.model_paths()[p] for p in pairs},
            "pid": os.getpid(), "started": time.time(), "torch_threads": settings.torch_threads}
    try:
        job_store().redis.hset(key("workers"), sender.hostname, json.dumps(info))
    except redis.RedisError:
        log.warning("could not register the worker in Redis")


@signals.worker_ready.connect
def _start_recovery_sweep(sender=None, **_):
    """Every RESTORE_INTERVAL seconds: put back in their queues the messages whose worker
    vanished more than VISIBILITY_TIMEOUT ago, then re-send the tasks of stalled jobs whose
    messages the broker lost (`JobStore.recover_stalled`). kombu's own sweep takes a Redis
    mutex that a worker killed while holding it leaves locked for minutes; each restore here
    is a WATCH transaction on the message, so concurrent sweeps cannot restore one twice."""

    def sweep():
        while True:
            time.sleep(RESTORE_INTERVAL)
            try:
                redeliver_abandoned()
                recover_stalled()
            except Exception as exc:  # Redis away: try again next time
                log.warning("recovery sweep skipped: %s", exc)

    threading.Thread(target=sweep, name="recovery-sweep", daemon=True).start()
    log.info("recovery sweep every %d s (visibility timeout %d s, stalled jobs after %d s)",
             RESTORE_INTERVAL, app.settings.visibility_timeout, STALL_AFTER)


def recover_stalled(store: JobStore | None = None) -> int:
    """Re-send the lost tasks of stalled jobs; returns how many were re-sent."""
    store = store or job_store()
    resent = store.recover_stalled(STALL_AFTER)
    for job_id, n in resent.items():
        if n:
            log.warning("job %s: re-sent %d task(s) that the broker lost", job_id, n)
    return sum(resent.values())


def redeliver_abandoned(celery_app=None) -> int:
    """Restore unacknowledged messages older than the visibility timeout; returns how many."""
    celery_app = celery_app or app
    with celery_app.connection_for_read() as conn:
        channel = conn.default_channel
        qos = channel.qos
        with channel.conn_or_acquire() as client:
            ceil = time.time() - celery_app.settings.visibility_timeout
            tags = client.zrangebyscore(channel.unacked_index_key, 0, ceil)
            for tag in tags:
                qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag, client)
    if tags:
        log.warning("redelivered %d task(s) whose worker vanished", len(tags))
    return len(tags)


@signals.worker_shutdown.connect
def _unregister(sender=None, **_):
    try:
        job_store().redis.hdel(key("workers"), sender.hostname)
    except redis.RedisError:
        pass
