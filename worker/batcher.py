"""Cross-request micro-batching inside one worker process.

The interactive worker runs Celery's thread pool: each `translate_text` task runs in its own
thread, hands its segments to the process's `MicroBatcher` and blocks until they are
translated. One decoding thread takes everything that has arrived (after the first request it
keeps gathering while requests come less than `window` apart, for at most `max_wait`), groups
it by key (the worker's: model, beam and n-best, so a multilingual model's directions
share a batch), and decodes each group as one batch. Tasks stay ordinary acks_late tasks:
each is acknowledged when its own thread returns, after its result was written, so a crash
loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

from translator.defaults import BATCH_MAX_SEGMENTS

log = logging.getLogger(__name__)

RunBatch = Callable[[Hashable, list[Any]], list[Any]]  # one result per item, in order


class MicroBatcher:
    def __init__(self, run: RunBatch, window: float = 0.005, max_wait: float = 0.05,
                 max_segments: int = BATCH_MAX_SEGMENTS):
        """`run(key, items)` translates one batch of items that share `key` (the worker's
        items are (pair, sentence): one model's, worker/runtime.py)."""
        self.run, self.window, self.max_segments = run, window, max_segments
        self.max_wait = max(window, max_wait)
        self._queue: queue.Queue[tuple[Hashable, list[Any], Future]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def translate(self, key: Hashable, items: list[Any], timeout: float | None = None
                  ) -> list[Any]:
        """Translate `items` together with other threads' concurrent requests of `key`."""
        future: Future = Future()
        self._ensure_thread()
        self._queue.put((key, list(items), future))
        return future.result(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="micro-batcher",
                                                daemon=True)
                self._thread.start()

    def _gather(self) -> list[tuple[Hashable, list[Any], Future]]:
        """Block for one request, then keep taking requests while they arrive less than
        `window` apart, for at most `max_wait` in all (a burst becomes one batch)."""
        items = [self._queue.get()]
        count = len(items[0][1])
        give_up = time.monotonic() + self.max_wait
        while count < self.max_segments:
            timeout = min(self.window, give_up - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else \
                    self._queue.get_nowait()
            except queue.Empty:
                break
            items.append(item)
            count += len(item[1])
        return items

    def _loop(self) -> None:
        while True:
            items = self._gather()
            groups: dict[Hashable, list[tuple[list[Any], Future]]] = {}
            for key, segments, future in items:
                if future.set_running_or_notify_cancel():
                    groups.setdefault(key, []).append((segments, future))
            for key, requests in groups.items():
                self._run_group(key, requests)

    def _run_group(self, key: Hashable, requests: list[tuple[list[Any], Future]]) -> None:
        flat = [s for segments, _ in requests for s in segments]
        started = time.perf_counter()
        try:
            out = self.run(key, flat)
        except BaseException as exc:  # every waiting request gets the error, the thread lives
            for _, future in requests:
                future.set_exception(exc)
            return
        log.debug("batch %s: %d request(s), %d segment(s) in %.0f ms", key, len(requests),
                  len(flat), 1000 * (time.perf_counter() - started))
        pos = 0
        for segments, future in requests:
            future.set_result(out[pos: pos + len(segments)])
            pos += len(segments)
