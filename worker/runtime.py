"""A worker process's state, in one object: its job store, dispatcher and recovery, its
models (loaded on first use), the evaluation model and the micro-batcher; and the worker's
lifetime signals (its registry entry, the recovery sweep)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple

import redis
from celery import signals

from .batcher import MicroBatcher
from .celery_app import get_app
from .dispatch import Dispatcher
from .recovery import Recovery
from .store import JobStore, stop_riding_out

log = logging.getLogger("worker")


class Translated(NamedTuple):
    """One segment of a micro-batch, translated."""

    text: str
    confidence: float | None
    alternatives: list[str]


class WorkerState:
    def __init__(self, app):
        self.app, self.settings = app, app.settings
        self.store = JobStore(self.settings, patient=True)
        self.dispatcher = Dispatcher(self.store, app)
        self.recovery = Recovery(self.store, self.dispatcher)
        self._models: OrderedDict[str, Any] = OrderedDict()  # least recently used first
        self._models_lock = threading.Lock()
        self._evaluated: dict[str, Any] = {}  # the last evaluated checkpoint: boards re-use it
        self._batcher: MicroBatcher | None = None

    def translator_for(self, pair: str):
        """The process's Translator for `pair` (CheckpointError if unusable or not served):
        its model's, or a multilingual model's view of the direction (`for_pair`)."""
        from translator.errors import CheckpointError

        path = self.settings.model_paths().get(pair)
        if path is None or pair not in self.settings.served_pairs():
            raise CheckpointError(f"this worker does not serve the pair {pair}")
        model = self._model(path)
        if not model.multilingual:
            return model
        from translator.errors import UserError

        try:
            return model.for_pair(*pair.split("-", 1))
        except UserError as exc:  # MODELS names it for a direction it did not learn
            raise CheckpointError(f"{path}: {exc}") from None

    def _model(self, path: str):
        """The model of the spec `path` (a checkpoint or an ensemble), loaded on first use; one
        per model, however many pairs it serves and however MODELS spells its path. With
        MAX_MODELS, loading one more drops the least recently used."""
        key = model_key(path)
        with self._models_lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            limit = self.settings.max_models
            while limit and len(self._models) >= limit:
                dropped, _ = self._models.popitem(last=False)
                log.info("dropped the model %s (MAX_MODELS=%d)", dropped, limit)
            from translator import Translator

            started = time.perf_counter()
            precision = self.settings.decode_precision()
            self._models[key] = Translator.from_checkpoint(
                path, device=self.settings.device, threads=self.settings.torch_threads,
                int8=precision == "int8", bf16=precision == "bf16")
            release_freed_memory()  # the fp32 copy int8 quantization replaced
            log.info("loaded %s in %.1f s", path, time.perf_counter() - started)
            return self._models[key]

    def translate_batched(self, pair: str, beam: int, n: int, sentences: list[str]
                          ) -> list[Translated]:
        """`sentences` of `pair` translated in the process's micro-batches: requests for one
        pair, beam and n-best share a batch; for a multilingual model, requests for any of its
        directions do (they decode together). A pair whose model fails fails its own
        requests, not the others' in the batch."""
        from translator.checkpoint_file import spec_directions
        from translator.errors import CheckpointError

        path = self.settings.model_paths().get(pair)
        try:
            shared = path is not None and bool(spec_directions(path))
        except CheckpointError:
            shared = False  # loading it reports what is wrong
        key = (model_key(path) if shared else pair, beam, n)
        out = self.batcher().translate(key, [(pair, s) for s in sentences])
        failed = next((o for o in out if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed
        return out

    def evaluation_translator(self, checkpoint: str):
        """A Translator for `checkpoint` on DEVICE in fp32 (a leaderboard compares models, not
        precisions); only the last one stays loaded."""
        if checkpoint not in self._evaluated:
            from translator import Translator

            self._evaluated.clear()
            self._evaluated[checkpoint] = Translator.from_checkpoint(
                checkpoint, device=self.settings.device, threads=self.settings.torch_threads)
        return self._evaluated[checkpoint]

    def batcher(self) -> MicroBatcher:
        if self._batcher is None:
            # The decoding thread releases the GIL in every torch op and must get it back
            # quickly from the task threads (Redis I/O, JSON): a short switch interval keeps it
            # from waiting up to 5 ms (Python's default) after each op.
            sys.setswitchinterval(0.0001)
            window = self.settings.batch_window_ms / 1000
            self._batcher = MicroBatcher(self._run_batch, window=window, max_wait=10 * window,
                                         max_segments=self.settings.batch_max_segments)
        return self._batcher

    def _run_batch(self, key: tuple[str, int, int], items: list[tuple[str, str]]
                   ) -> list[Translated | BaseException]:
        """(text, confidence, alternatives) per (pair, segment) item of one model: the n-1
        other hypotheses of an n-best search (a segment with fewer repeats its best); a pair
        whose model fails gets its exception in its items' places."""
        _, beam, n = key
        views, failed = {}, {}
        for pair in dict.fromkeys(p for p, _ in items):
            try:
                views[pair] = self.translator_for(pair)
            except Exception as exc:  # noqa: BLE001 (that pair's requests report it)
                failed[pair] = exc
        if not views:
            raise next(iter(failed.values()))
        todo = [(pair, text) for pair, text in items if pair in views]
        options = dict(beam_size=beam, n_best=n, batch_tokens=self.settings.batch_tokens)
        first = next(iter(views.values()))
        if len(views) == 1:
            n_best = first.translate_hypotheses([text for _, text in todo], **options)
        else:  # one multilingual model (the views share it), several directions
            n_best = first.translate_directions(todo, **options)
        decoded = iter(n_best)
        out: list = []
        for pair, _ in items:
            if pair in failed:
                out.append(failed[pair])
                continue
            translator, hyps = views[pair], next(decoded)
            if not hyps:
                out.append(Translated("", 1.0, [""] * (n - 1)))
                continue
            texts = [text for text, _ in hyps]
            out.append(Translated(texts[0], translator.confidence(hyps[0][1]),
                                  [texts[j] if j < len(texts) else texts[0]
                                   for j in range(1, n)]))
        return out


def model_key(path: str) -> str:
    """One name per model, however MODELS spells its path (a models directory's index gives
    absolute paths, a `pair=path` entry the path as written): its members resolved."""
    from pathlib import Path

    from translator.checkpoint_file import join_spec, spec_members

    return join_spec([str(Path(m).resolve()) for m in spec_members(path)])


def release_freed_memory() -> None:
    """Give the memory freed while loading a model back to the system (glibc keeps freed
    blocks in its arenas; `malloc_trim` returns them), so each extra model costs what it
    holds, not what loading it once used. Elsewhere than glibc this does nothing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


_state: WorkerState | None = None
_state_lock = threading.Lock()


def worker_state() -> WorkerState:
    """This process's state (built on first use from the environment's Celery app)."""
    global _state
    if _state is None:
        with _state_lock:
            if _state is None:
                _state = WorkerState(get_app())
    return _state


WARM_UP_TEXT = "Warm up."


def warm_up(state: WorkerState) -> tuple[list[str], dict[str, str]]:
    """Load every served pair's model and translate one short sentence with it (the first
    call allocates what later ones reuse). Returns (the pairs that are warm, {pair: why} for
    those that failed); an unusable checkpoint stays the error its jobs report."""
    from translator.inference.document import segment_document

    ready, failed = [], {}
    for pair in state.settings.served_pairs():
        try:
            segment_document(WARM_UP_TEXT, pair.split("-")[0])  # loads the sentence splitter
            state.translator_for(pair).translate([WARM_UP_TEXT], beam_size=state.settings.beam_size)
            ready.append(pair)
        except Exception as exc:  # noqa: BLE001 (reported on the jobs that need the model)
            failed[pair] = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            log.warning("could not warm up %s: %s", pair, failed[pair])
    return ready, failed


@signals.worker_ready.connect
def _register(sender=None, **_):
    """Register the worker; one that decodes in its main process (the thread pool of the
    interactive worker) then loads its models in the background and says `ready` once done,
    so its first request does not wait for them (`/healthz` reports it)."""
    state = worker_state()
    pairs = state.settings.served_pairs()
    in_main = "prefork" not in type(getattr(sender, "pool", None)).__module__
    info = {"pairs": pairs, "models": {p: state.settings.model_paths()[p] for p in pairs},
            "pid": os.getpid(), "started": time.time(),
            "torch_threads": state.settings.torch_threads,
            "device": state.settings.device, "precision": state.settings.decode_precision(),
            "ready": [] if in_main else None,  # None: the pool processes load their own
            "warm": False}
    try:
        state.store.register_worker(sender.hostname, info)
    except redis.RedisError:
        log.warning("could not register the worker in Redis")
    if in_main:
        def load() -> None:
            started = time.perf_counter()
            loaded, failed = warm_up(state)
            log.info("warm: %s ready in %.1f s", ", ".join(loaded) or "no pair",
                     time.perf_counter() - started)
            try:
                state.store.register_worker(sender.hostname, {**info, "ready": loaded,
                                                              "failed": failed, "warm": True})
            except redis.RedisError:
                log.warning("could not record the worker as ready in Redis")

        threading.Thread(target=load, name="warm-up", daemon=True).start()


# Set while no background import is under way: a pool process clears it at start and sets it
# once its background thread has imported the model code.
_model_code_imported = threading.Event()
_model_code_imported.set()


@signals.worker_process_init.connect
def _import_the_model_code(**_):
    """A pool process imports torch and loads its models in a background thread, so that it
    reports alive at once and a warm shutdown need not wait for the import (a pool process
    still importing torch at nice 10 on a busy machine held a shut-down document worker for
    over 15 s). Tasks wait for the import (`wait_for_model_code`): it is never cut short by a
    time limit (which would leave torch half-initialised for every later task of the
    process), and no task imports parts of the same packages beside it."""
    _model_code_imported.clear()

    def load() -> None:
        started = time.perf_counter()
        try:
            import translator.inference.translator  # noqa: F401
        finally:  # a failed import is raised again by the task that needs it
            _model_code_imported.set()
        log.debug("pool process %d: model code imported in %.1f s", os.getpid(),
                  time.perf_counter() - started)
        warm_up(worker_state())

    threading.Thread(target=load, name="warm-up", daemon=True).start()


def wait_for_model_code() -> None:
    """Return once this process's background import of the model code (if any) is done."""
    _model_code_imported.wait()


@signals.worker_ready.connect
def _start_recovery_sweep(sender=None, **_):
    worker_state().recovery.start_sweeping()


@signals.worker_shutting_down.connect
def _stop_riding_out(**_):
    """A stopping worker's tasks no longer wait for a lost Redis (worker/store/client.py)."""
    stop_riding_out()


@signals.worker_shutdown.connect
def _unregister(sender=None, **_):
    try:
        worker_state().store.unregister_worker(sender.hostname)
    except redis.RedisError:
        pass
