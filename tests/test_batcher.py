"""worker.batcher.MicroBatcher: requests from concurrent threads decoded together, each
answered with its own results, and BATCH_MAX_SEGMENTS=1 turning micro-batching off."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from worker.batcher import MicroBatcher


def upper_recording(batches: list[list[str]], gate: threading.Event):
    """A run function that records each batch; the first waits for `gate` so that the other
    requests queue up behind it (what concurrent requests do while a batch decodes)."""
    def run(key, segments):
        batches.append(list(segments))
        gate.wait(timeout=60)
        return [f"{key}:{s.upper()}" for s in segments]
    return run


def send_while_first_runs(batcher: MicroBatcher, batches: list, gate: threading.Event,
                          requests: list[list[str]]) -> list[list[str]]:
    with ThreadPoolExecutor(len(requests)) as pool:
        first = pool.submit(batcher.translate, "k", requests[0], 60)
        while not batches:  # the first batch is decoding: the rest must queue behind it
            threading.Event().wait(0.001)
        rest = [pool.submit(batcher.translate, "k", r, 60) for r in requests[1:]]
        while batcher._queue.qsize() < len(rest):
            threading.Event().wait(0.001)
        gate.set()
        return [first.result()] + [f.result() for f in rest]


def test_queued_requests_become_one_batch_and_each_gets_its_own_results():
    batches, gate = [], threading.Event()
    batcher = MicroBatcher(upper_recording(batches, gate), window=0.05)
    requests = [["a"], ["b", "c"], ["d"], ["e"]]
    results = send_while_first_runs(batcher, batches, gate, requests)
    assert results == [[f"k:{s.upper()}" for s in r] for r in requests]
    assert batches[0] == ["a"]
    assert sorted(batches[1]) == ["b", "c", "d", "e"] and len(batches) == 2


def test_one_segment_per_batch_decodes_each_request_alone():
    batches, gate = [], threading.Event()
    batcher = MicroBatcher(upper_recording(batches, gate), window=0.05, max_segments=1)
    requests = [["a"], ["b", "c"], ["d"], ["e"]]
    results = send_while_first_runs(batcher, batches, gate, requests)
    assert results == [[f"k:{s.upper()}" for s in r] for r in requests]
    assert sorted(map(tuple, batches)) == [("a",), ("b", "c"), ("d",), ("e",)]
