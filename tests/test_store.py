"""The job store owns the Redis keys: every `nmt:` key that real jobs write (a document, a text,
evaluations, a cancellation, the leaderboard page) is one its docstring lists, seen through
Redis's own keyspace notifications while the real workers and the real app run."""

from __future__ import annotations

import re
import threading
import time
import uuid

import pytest
import redis
from helpers import PAIR, make_document, wait_for_job, wait_for_progress

import worker.store
from worker.errors import InputError


def documented_key_patterns() -> list[re.Pattern]:
    """The `nmt:...` keys of the store's docstring, `<id>`-style parts as wildcards."""
    names = re.findall(r"`(nmt:[^`]+)`", worker.store.__doc__)
    assert len(names) >= 15, names
    return [re.compile(re.sub(r"<[^>]+>", "[^:]+", re.escape(n)) + "$") for n in names]


class KeyWatcher:
    """Collects the names of keys written while it runs (keyevent notifications of every
    write, expiry and deletion, on every database)."""

    def __init__(self, client):
        self.client, self.keys = client, set()
        self.client.config_set("notify-keyspace-events", "KEA")
        self.pubsub = client.pubsub()
        self.pubsub.psubscribe("__keyevent@*__:*")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.1)
            if message and message["type"] == "pmessage":
                self.keys.add(message["data"].decode())

    def stop(self) -> set[str]:
        # Notifications come in the order Redis ran the writes: once the watcher has seen a
        # marker written now, it has seen every write made before it.
        marker = f"test:keywatcher:{uuid.uuid4().hex}"
        self.client.set(marker, 1)
        self.client.delete(marker)
        deadline = time.monotonic() + 60
        while marker not in self.keys:
            assert time.monotonic() < deadline, "the watcher never saw its marker"
            time.sleep(0.02)
        self._stop.set()
        self._thread.join()
        self.pubsub.close()
        self.client.config_set("notify-keyspace-events", "")
        return self.keys


def test_every_key_written_by_real_jobs_is_documented_in_the_store(
        intake, job_store, client, trained_run):
    patterns = documented_key_patterns()
    watcher = KeyWatcher(job_store.redis)
    try:
        doc = intake.submit_document(make_document(60, seed=8), PAIR, beam_size=2,
                                     reference=make_document(60, seed=9), filename="a.txt")
        text = intake.submit_text(["red cat", "blue dog"], PAIR, reference=["cat red", "x"])
        name = f"{trained_run['dir'].name}/best.pt"
        evals = [intake.submit_evaluation(name, testset="test_2016_flickr", beam_size=b)
                 for b in (1, 2)]
        upload = intake.submit_evaluation(name, source="red cat\n",
                                          reference=["cat red\n", "red cat\n"])
        system = intake.submit_evaluation(hypotheses="cat red\n", system="mine",
                                          reference=["cat red\n", "red cat\n"])
        long = intake.submit_document(make_document(2000, seed=10), PAIR, beam_size=5)
        wait_for_progress(job_store, long.id, timeout=120)
        intake.cancel_job(long.id)
        for job in (doc, text, *evals, upload, system):
            assert wait_for_job(job_store, job.id, timeout=120)["status"] == "done"
        assert client.get("/checkpoints").status_code == 200  # queues the boards' tests
        ids = [upload.id, system.id]
        deadline = time.monotonic() + 120
        while intake.comparison(ids[0], ids[1:], detail=False)["status"] == "pending":
            assert time.monotonic() < deadline, "the comparison was never computed"
            time.sleep(0.2)
        intake.delete_evaluation(system.id)  # and what deleting one touches
        with pytest.raises(InputError):  # refused before queuing: no key at all
            intake.submit_text("", PAIR)
    finally:
        written = watcher.stop()
    ours = {k for k in written if k.startswith("nmt:")}
    existing = {k.decode() for k in job_store.redis.scan_iter("nmt:*")}
    undocumented = sorted(k for k in ours | existing
                          if not any(p.match(k) for p in patterns))
    assert not undocumented, f"nmt: keys missing from the key layout: {undocumented}"
    # The watcher saw the keys of every kind of step, so the check covered them.
    for part in (":layout", ":source:", ":chunk:", ":chunks_done", ":assembling", ":result",
                 ":progress", ":pending", ":input", ":reference", ":references", ":hypotheses",
                 ":comparisons", "nmt:comparison:",
                 "nmt:evaluations", "nmt:active", "nmt:jobs"):
        assert any(part in k for k in ours), (part, sorted(ours)[:40])


# ------------------------------------------------------------------------- waiting
@pytest.fixture
def wait_calls(monkeypatch) -> dict[str, list]:
    """What `JobStore.wait` does, counted rather than timed: its reads of a job's status (job
    ids) and its blocking BLMOVEs (their timeouts)."""
    calls: dict[str, list] = {"status": [], "blmove": []}
    status, blmove = worker.store.JobStore.status, redis.client.Pipeline.blmove

    def counted_status(self, job_id):
        calls["status"].append(job_id)
        return status(self, job_id)

    def counted_blmove(self, first, second, timeout, *args, **kwargs):
        calls["blmove"].append(timeout)
        return blmove(self, first, second, timeout, *args, **kwargs)

    monkeypatch.setattr(worker.store.JobStore, "status", counted_status)
    monkeypatch.setattr(redis.client.Pipeline, "blmove", counted_blmove)
    return calls


def wait_until_blocked(client, waiters: int) -> None:
    """Until `waiters` connections are blocked in a BLMOVE on the server."""
    deadline = time.monotonic() + 60
    while sum(c["cmd"] == "blmove" and "b" in c["flags"] for c in client.client_list()) \
            < waiters:
        assert time.monotonic() < deadline, client.client_list()
        time.sleep(0.02)


def test_wait_is_woken_when_the_job_finishes_not_by_polling(job_store, wait_calls):
    """Two requests wait on a job, blocked in Redis; finishing it wakes both: each read the
    status once and blocked once, with no read again after a BLMOVE slice (WAIT_SLICE, 5 s)
    ran out, whatever the time the machine takes."""
    job = job_store.create("text", PAIR)
    woken: list[object] = []
    threads = [threading.Thread(target=lambda: woken.append(job_store.wait(job.id, 30)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_until_blocked(job_store.redis, 2)
    assert job_store.finish(job.id, "done", result={"translations": []})
    for thread in threads:
        thread.join(60)
    assert woken == ["done", "done"]
    assert wait_calls["status"] == [job.id, job.id]
    assert wait_calls["blmove"] == [worker.store.WAIT_SLICE] * 2
    assert worker.store.WAIT_SLICE >= 5


def test_wait_returns_at_once_when_final_or_missing_and_times_out(job_store, wait_calls):
    job = job_store.create("text", PAIR)
    started = time.monotonic()
    assert job_store.wait(job.id, 0.3) == "queued"
    assert time.monotonic() - started >= 0.3
    # the timeout, not a whole slice, bounds the blocking
    assert wait_calls["blmove"] and all(0 < t <= 0.3 for t in wait_calls["blmove"])
    job_store.finish(job.id, "cancelled")
    wait_calls["blmove"].clear()
    assert job_store.wait(job.id, 30) == "cancelled"
    assert job_store.wait("f" * 32, 30) is None
    assert wait_calls["blmove"] == []  # neither blocked at all


def test_wait_result_brings_the_result_with_the_wake_up(job_store, wait_calls):
    """`wait_result` (LibreTranslate's /translate): the status and the result in one call,
    woken by the finish, and no result for a job that did not end done."""
    job = job_store.create("text", PAIR)

    def finish_once_blocked():
        wait_until_blocked(job_store.redis, 1)
        job_store.finish(job.id, "done", result={"translations": ["x"]})

    finisher = threading.Thread(target=finish_once_blocked)
    finisher.start()
    try:
        assert job_store.wait_result(job.id, 30) == ("done", {"translations": ["x"]})
    finally:
        finisher.join(60)
    assert wait_calls["status"] == [job.id]  # woken by the BLMOVE, the status not read again
    assert wait_calls["blmove"] == [worker.store.WAIT_SLICE]
    assert job_store.wait_result(job.id, 30) == ("done", {"translations": ["x"]})  # already done
    assert wait_calls["blmove"] == [worker.store.WAIT_SLICE]  # without blocking
    failed = job_store.create("text", PAIR)
    job_store.fail(failed.id, "broken")
    assert job_store.wait_result(failed.id, 30) == ("failed", None)
    assert job_store.wait_result(job_store.create("text", PAIR).id, 0.2) == ("queued", None)


def test_start_claims_a_job_and_returns_its_record(job_store):
    job = job_store.create("text", PAIR, has_reference=True, total=3)
    claimed = job_store.start(job.id)
    assert (claimed.status, claimed.has_reference, claimed.total) == ("running", True, 3)
    assert claimed.started and job_store.get_job(job.id).status == "running"
    job_store.finish(job.id, "cancelled")
    assert job_store.start(job.id).status == "cancelled"  # a final status is left alone
    assert job_store.start("f" * 32) is None


def test_a_job_and_its_pending_task_are_written_together_and_cleared_with_the_finish(job_store):
    job = job_store.create("text", PAIR, pending={"t1": {"name": "x", "args": [], "queue": "q"}})
    assert job_store.pending_tasks(job.id) == {"t1": {"name": "x", "args": [], "queue": "q"}}
    assert job_store.finish(job.id, "done", result={}, task_done="t1")
    assert job_store.pending_tasks(job.id) == {}
