"""Faults with real processes on loopback: a private redis-server (AOF on), Celery workers and
the web app under gunicorn, all started here and killed or restarted on purpose.

The cluster's limits are short so that the faults resolve quickly: VISIBILITY_TIMEOUT 15 s,
TASK_TIME_LIMIT 12 s, TASK_SOFT_TIME_LIMIT 10 s. A task whose whole worker is killed is then
redelivered after 15 to 25 s (visibility timeout + one restore sweep of 10 s); a message lost
in the broker's hand-off is re-sent 10 to 21 s after its job went idle.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import (
    PAIR,
    ROOT,
    WORDS,
    WorkerSet,
    children_of,
    make_document,
    wait_for_job,
    wait_for_progress,
)

from translator.inference.document import count_paragraphs, segment_document, translate_document
from worker.celery_app import RESTORE_INTERVAL, STALL_AFTER, docs_queue, make_app
from worker.intake import Intake
from worker.redis_server import EmbeddedRedis, free_port
from worker.settings import Settings
from worker.store import JobStore

VISIBILITY = 15
SETTLE = 1.0  # seconds for a killed process's last commands, already sent, to reach Redis
# A message lost between the broker's pop and its unacked record is re-sent after the job has
# been idle for the stall period, at the next sweep, after a second look 1 s later.
RECOVERY_WITHIN = STALL_AFTER + RESTORE_INTERVAL + 1


class Web:
    """gunicorn serving the app, restartable."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log, self.port = env, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--threads", "8", "web:create_app()"],
            env=self.env, cwd=ROOT, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while True:  # up when a gunicorn worker answers the health check
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:  # refused or reset while the workers boot; 503 is an HTTPError
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9 of the whole web service: the gunicorn master and its workers."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None,
                method: str | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {},
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str, body=None, method: str | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        status, raw = self.request(path, data, {"Content-Type": "application/json"}, method)
        return status, json.loads(raw)


@pytest.fixture(scope="module")
def cluster(trained_run, reverse_corpus, tmp_path_factory):
    state = tmp_path_factory.mktemp("cluster")
    server = EmbeddedRedis(state).start()
    env = {
        "REDIS_URL": server.url, "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}",
        "PRECISION": "fp32",
        "CHECKPOINT_DIRS": str(trained_run["dir"].parent), "MULTI30K_DIR": str(reverse_corpus),
        "TORCH_THREADS": "1", "CHUNK_SENTENCES": "10", "BATCH_TOKENS": "400",
        "VISIBILITY_TIMEOUT": str(VISIBILITY), "TASK_TIME_LIMIT": "12",
        "TASK_SOFT_TIME_LIMIT": "10", "STATE_DIR": str(state), "RATE_LIMIT": "",
        "SECRET_KEY": "cluster", "MAX_DOCUMENT_BYTES": "2000000",
    }
    settings = Settings.from_env(env, dotenv=None)
    app = make_app(settings)
    workers = WorkerSet(env, state)
    web = Web({**os.environ, **env, "PYTHONPATH": str(ROOT)}, state / "web.log")
    try:  # nothing outlives the tests, even if the set-up fails half way
        workers.start("text")
        workers.start("docs")
        workers.wait_ready(app)
        workers.supervise()  # restart a worker that exits, as serve and compose do
        web.start()
        store = JobStore(settings)
        yield {"redis": server, "workers": workers, "web": web, "store": store, "app": app,
               "intake": Intake(store, app)}
    finally:
        if web.proc is not None:
            web.kill()
        workers.stop_all()
        server.stop()


def check_document(store, job: dict, text: str, translator, beam: int) -> None:
    assert job["status"] == "done", job
    result = store.get_result(job["id"])
    assert result["text"] == translate_document(translator, text, lang="xx", beam_size=beam)
    sources = [s for s, _ in result["sentences"]]
    assert sources == segment_document(text, "xx").sentences  # each exactly once, in order


def check_recovered_within(store, job_id: str, since: float, earliest: float, high: float,
                           text: str, translator, beam: int, what: str) -> None:
    """The job completes correctly, finished (its own record's wall-clock time) no sooner than
    `earliest`, the first moment the recovery under test could act, and observed at most
    `high` seconds after `since` (time.monotonic())."""
    job = wait_for_job(store, job_id, timeout=high + 30)
    elapsed = time.monotonic() - since
    print(f"{what}: job done {elapsed:.1f} s after it, "
          f"{job['finished'] - earliest:.1f} s after the recovery could first act")
    check_document(store, job, text, translator, beam=beam)
    assert job["finished"] >= earliest, (job["finished"], earliest)
    assert elapsed <= high, elapsed


def held_since(app, task_ids, delivered_before: float) -> dict[str, tuple[float, list]]:
    """{task id: (when the broker delivered its message, the task's arguments)} for those of
    `task_ids` whose message a worker holds unacknowledged, delivered before `delivered_before`
    (time.time()): kombu's unacked index, read with the unacked hash in one transaction. A held
    message is put back once older than the visibility timeout."""
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as client:
            pipe = client.pipeline(transaction=True)
            pipe.hgetall(channel.unacked_key)
            pipe.zrange(channel.unacked_index_key, 0, -1, withscores=True)
            messages, index = pipe.execute()
    delivered = dict(index)
    held = {}
    for tag, raw in messages.items():
        message = json.loads(raw)[0]
        task_id = message["properties"]["correlation_id"]
        if task_id in task_ids and delivered[tag] <= delivered_before:
            args = json.loads(base64.b64decode(message["body"]))[0]  # [args, kwargs, embed]
            held[task_id] = (delivered[tag], args)
    return held


def test_whole_worker_killed_redelivers_after_the_visibility_timeout(cluster,
                                                                    trained_translator):
    store, workers = cluster["store"], cluster["workers"]
    intake = cluster["intake"]
    text = make_document(200, seed=1)
    job = intake.submit_document(text, PAIR, beam_size=4)
    wait_for_progress(store, job["id"])
    os.killpg(workers.procs["docs"].pid, signal.SIGKILL)  # main process and pool at once
    killed_at, killed_wall = time.monotonic(), time.time()  # a new docs worker starts
    # The unfinished chunks the dead worker held (in kombu's unacked hash) wait for their
    # visibility timeout, not for ever. Chunks take milliseconds here, so the kill may also
    # land when it held none unfinished (between tasks, or a finished one not yet acked);
    # then the new worker takes the rest from the queue at once. A message popped and not yet
    # recorded is lost, and re-sent once the job has been idle for the stall period (at worst
    # that idleness starts when the held chunks come back and run).
    # They come back no sooner than the visibility timeout after their delivery (before the
    # kill: by seconds on a busy machine, where the worker held them while it loaded the model).
    # What the dead worker had sent before it died may still be on its way to Redis (a chunk's
    # record written just before the kill, on a busy machine): the chunks still unfinished are
    # read once that has landed, and the held ones counted only if delivered before the kill
    # (not to the new worker).
    # A chunk's task stays pending until its worker clears it after the chunk's record: a
    # worker killed in between leaves a finished chunk pending, which counts as not held.
    time.sleep(SETTLE)
    held = {task: delivered for task, (delivered, args) in held_since(
        cluster["app"], set(store.pending_tasks(job["id"])), killed_wall).items()
        if len(args) < 2 or not store.chunk_done(job["id"], args[1])}  # (job, chunk, step)
    print(f"unfinished chunks held by the killed worker: {len(held)}")
    check_recovered_within(store, job["id"], killed_at,
                           min(held.values()) + VISIBILITY if held else 0,
                           VISIBILITY + RESTORE_INTERVAL + RECOVERY_WITHIN + 30, text,
                           trained_translator, 4, "whole worker killed")


def test_a_message_lost_in_delivery_is_sent_again(cluster, trained_translator):
    """A worker killed between the broker's pop of a message and its record of it as
    unacknowledged loses the message for good (no visibility timeout brings it back). That is
    done here exactly: the docs worker stops consuming (Celery remote control), a document is
    submitted, its message is popped from the queue and dropped, and the worker consumes again.
    The recovery sweep finds the job idle with a pending task in no queue and sends it again."""
    store, app = cluster["store"], cluster["app"]
    intake = cluster["intake"]
    queue = docs_queue(PAIR)
    replies = app.control.ping(timeout=5)
    docs = [name for reply in replies for name in reply if name.startswith("docs@")]
    assert docs, replies
    # (the replies' timeouts: the longest wait, on a busy machine; the answer ends it)
    assert app.control.cancel_consumer(queue, destination=docs, reply=True, timeout=10)
    try:
        text = make_document(40, seed=5)
        created = time.time()  # the job's activity time is later: its idle period starts then
        job = intake.submit_document(text, PAIR, beam_size=2)
        submitted = time.monotonic()
        # A BRPOP the worker issued before the cancel may still take the message; with no
        # consumer for it, the worker puts it back in the queue. Take it from there.
        deadline = time.monotonic() + 30
        while (raw := store.redis.rpop(queue)) is None:
            assert time.monotonic() < deadline, "the document's message is not in its queue"
            time.sleep(0.01)
        dropped = json.loads(raw)
        assert dropped["properties"]["correlation_id"] in store.pending_tasks(job["id"])
    finally:
        assert app.control.add_consumer(queue, destination=docs, reply=True, timeout=10)
    # the recovery sweep re-sends the task once the job has been idle for STALL_AFTER
    check_recovered_within(store, job["id"], submitted, created + STALL_AFTER,
                           RECOVERY_WITHIN + 30, text, trained_translator, 2,
                           "lost message (from submission)")


def test_pool_process_killed_during_an_evaluation(cluster, trained_run):
    """The evaluation's pool process is killed while it translates: the task is redelivered
    and the evaluation, run again from its start in a new process, finishes within the
    cluster's soft time limit (10 s: 400 segments take 1-2 s here, more than 10 s only on a
    machine 5 times slower; 3,000 overran it on a busy CI machine)."""
    store, workers = cluster["store"], cluster["workers"]
    intake = cluster["intake"]
    source = make_document(400, seed=2).replace("\n\n", "\n")
    lines = [ln for ln in source.splitlines() if ln]
    reference = "\n".join(" ".join(reversed(ln.split())) for ln in lines) + "\n"
    name = f"{trained_run['dir'].name}/best.pt"
    job = intake.submit_evaluation(name, source="\n".join(lines) + "\n", reference=reference,
                                  beam_size=1)
    wait_for_job(store, job["id"], timeout=30, until=("running",))
    for pid in workers.children("docs"):
        os.kill(pid, signal.SIGKILL)
    job = wait_for_job(store, job["id"], timeout=60)
    assert job["status"] == "done" and job["total"] == len(lines), job.get("error")
    assert len(store.get_result(job["id"])["hypotheses"]) == len(lines)
    assert job["scores"]["bleu"] > 90


def test_redis_restart_loses_no_job_and_everything_reconnects(cluster, trained_translator):
    store, web, server = cluster["store"], cluster["web"], cluster["redis"]
    intake = cluster["intake"]
    docs = {intake.submit_document(t, PAIR, beam_size=3)["id"]: t
            for t in (make_document(150, seed=s) for s in range(3, 6))}
    texts = {intake.submit_text(f"red blue cat {w}", PAIR)["id"]: w for w in WORDS[:6]}
    wait_for_progress(store, next(iter(docs)), timeout=60)  # one running, the others behind it
    server.stop()  # SIGTERM: Redis writes its AOF and exits
    assert web.request("/healthz")[0] == 503
    status, body = web.json("/api/v1/translate", {"text": "red", "pair": PAIR})
    assert status == 503 and "not reachable" in body["error"]
    time.sleep(2)
    server.start()
    for job_id, text in docs.items():
        check_document(store, wait_for_job(store, job_id, timeout=90), text,
                       trained_translator, beam=3)
    for job_id in texts:
        assert wait_for_job(store, job_id, timeout=90)["status"] == "done"
    assert web.request("/healthz")[0] == 200
    status, job = web.json("/api/v1/translate", {"text": "red blue cat", "pair": PAIR})
    assert status == 202
    assert wait_for_job(store, job["id"])["status"] == "done"


def test_web_restart_during_jobs_loses_nothing(cluster, trained_translator):
    store, web = cluster["store"], cluster["web"]
    text = make_document(200, seed=7)
    status, job = web.json("/api/v1/documents", {"text": text, "pair": PAIR, "beam_size": 4})
    assert status == 202
    web.kill()
    web.start()
    status, page = web.request(f"/jobs/{job['id']}")
    assert status == 200 and b'<progress class="progress"' in page
    job = wait_for_job(store, job["id"], timeout=60)
    check_document(store, job, text, trained_translator, beam=4)
    status, page = web.request(f"/jobs/{job['id']}")
    assert b"Source and translation" in page


HOSTILE_JSON = [
    ({"text": "", "pair": PAIR}, 422), ({"text": "   \n ", "pair": PAIR}, 422),
    ({"text": "x" * 100_000, "pair": PAIR}, 413), ({"text": "hi", "pair": "xx-zz"}, 422),
    ({"text": ["a", 3], "pair": PAIR}, 422), ({"text": "hi", "pair": PAIR, "beam_size": -1}, 422),
    ({"text": "hi", "pair": ["xx", "yy"]}, 422), ({"text": {"a": 1}, "pair": PAIR}, 422),
]


def test_hostile_input_gets_a_clear_4xx_and_the_system_keeps_serving(cluster):
    web, store = cluster["web"], cluster["store"]
    for body, expected in HOSTILE_JSON:
        status, answer = web.json("/api/v1/translate", body)
        assert status == expected and answer["error"], (body, answer)
    for raw in (b"{not json", b"[1, 2", b"\xff\xfe"):
        status, answer = web.request("/api/v1/translate", raw,
                                     {"Content-Type": "application/json"})
        assert status == 400 and b"JSON" in answer
    ten_mb = b"red cat " * (10 * 1024 * 1024 // 8)
    for payload, expected in ((ten_mb, 413), (b"\x00\x01binary\x02", 422),
                              (bytes(range(256)) * 8, 422), (b"", 422)):
        body, ctype = _multipart({"pair": PAIR}, {"file": ("doc.txt", payload)})
        status, answer = web.request("/api/v1/documents", body, {"Content-Type": ctype})
        assert status == expected, (payload[:20], answer[:200])
        assert b"error" in answer
    # The same through the page's form: the CSRF check reads the form first, and the 413
    # still comes as a page (after the body was read), not as a reset connection.
    body, ctype = _multipart({"pair": PAIR}, {"file": ("doc.txt", ten_mb)})
    status, page = web.request("/documents", body, {"Content-Type": ctype})
    assert status == 413 and b"too large" in page
    # A 100,000-character line in a document is accepted and translated (cut into segments).
    long_line = " ".join(random.Random(9).choice(WORDS) for _ in range(20_000))[:100_000]
    status, job = web.json("/api/v1/documents", {"text": long_line + "\n", "pair": PAIR})
    assert status == 202
    job = wait_for_job(store, job["id"], timeout=60)
    assert job["status"] == "done" and store.get_result(job["id"])["text"].count("\n") == 1
    # Path traversal in every name that reaches a file or a record.
    for path in ("/jobs/..%2F..%2Fetc%2Fpasswd", "/api/v1/jobs/../../etc/passwd",
                 "/checkpoints/..%2F..%2Fetc/metrics.png", "/jobs/" + "0" * 32 + "/download"):
        assert web.request(path)[0] == 404, path
    status, answer = web.json("/api/v1/evaluations",
                              {"checkpoint": "../../../etc/passwd", "testset": "test_2016_flickr"})
    assert status == 422
    status, answer = web.json("/api/v1/evaluations",
                              {"checkpoint": f"{PAIR} (best.pt)", "testset": "../../etc/passwd"})
    assert status == 422
    # Script payloads in text, file name and reference are shown escaped.
    xss = "<script>alert(1)</script>"
    body, ctype = _multipart({"pair": PAIR}, {"file": (f"{xss}.txt", f"{xss}\n".encode()),
                                              "reference": ("r.txt", f"{xss}\n".encode())})
    status, job = web.request("/api/v1/documents", body, {"Content-Type": ctype})
    job = wait_for_job(store, json.loads(job)["id"])
    page = web.request(f"/jobs/{job['id']}")[1].decode()
    assert xss not in page and "&lt;script&gt;" in page
    assert xss not in web.request("/jobs")[1].decode()  # (this client's list: its own jobs)
    # A form without its CSRF token.
    status, page = web.request("/", b"text=hi&pair=xx-yy",
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"CSRF" in page
    status, job = web.json("/api/v1/translate", {"text": "red blue cat", "pair": PAIR})
    assert status == 202 and wait_for_job(store, job["id"])["status"] == "done"


def _multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = "----reliability" + os.urandom(8).hex()
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  f"{value}\r\n".encode())
    for name, (filename, data) in files.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                  f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'.encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def test_paragraph_count_survives_translation_of_any_unicode(trained_translator):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.text(max_size=300))
    def check(text):
        out = translate_document(trained_translator, text, lang="xx", beam_size=2)
        assert count_paragraphs(out) == count_paragraphs(text)

    check()


def test_200_concurrent_api_requests_no_5xx_no_lost_job(cluster):
    """A bounded load generator (50 client threads) on loopback: 150 text and 50 document
    jobs through gunicorn. (benchmarks/web_load.py runs the same with the real model.)"""
    from concurrent.futures import ThreadPoolExecutor

    web, store = cluster["web"], cluster["store"]
    rng = random.Random(10)
    requests = []
    for i in range(200):
        if i % 4 == 3:
            requests.append(("/api/v1/documents", {"text": make_document(20, seed=i),
                                                   "pair": PAIR}))
        else:
            requests.append(("/api/v1/translate", {
                "text": " ".join(rng.choice(WORDS) for _ in range(5)), "pair": PAIR}))

    def submit(item):
        return web.json(*item)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(submit, requests))
    assert [status for status, _ in answers] == [202] * 200
    jobs = [wait_for_job(store, body["id"], timeout=120) for _, body in answers]
    assert sum(j["status"] == "done" for j in jobs) == 200


def rss_kb(pid: int) -> int:
    total = 0
    for p in [pid, *children_of(pid)]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def test_worker_memory_stays_bounded_over_1000_jobs(cluster):
    store, workers = cluster["store"], cluster["workers"]
    intake = cluster["intake"]
    pid = workers.procs["text"].pid
    warm = [intake.submit_text(f"red blue cat {w}", PAIR)["id"] for w in WORDS]
    for job_id in warm:
        wait_for_job(store, job_id)
    before = rss_kb(pid)
    rng = random.Random(11)
    ids = [intake.submit_text(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))),
                             PAIR)["id"] for _ in range(1000)]
    assert all(wait_for_job(store, i, timeout=120)["status"] == "done" for i in ids)
    after = rss_kb(pid)
    print(f"text worker RSS: {before / 1024:.0f} MB before, {after / 1024:.0f} MB after "
          f"1000 jobs")
    assert after - before < 64 * 1024  # no per-job growth (64 MB would be 64 kB per job)


def wait_until_warm(workers: WorkerSet, name: str, log: Path, timeout: float = 120) -> None:
    """Until each pool process of the worker has loaded its model, in the warm-up that
    follows its background import of the model code. (A task waits for that import, and a
    time limit shorter than the import, on a busy machine, would strike while it waits: not
    the runaway job the test is about.)"""
    deadline = time.monotonic() + timeout
    while True:
        pids, text = workers.children(name), log.read_text()
        if pids and all(re.search(rf"pid={pid} [^\n]*msg='loaded ", text) for pid in pids):
            return
        assert time.monotonic() < deadline, text[-3000:]
        time.sleep(0.1)


@pytest.mark.parametrize("soft, hard, message", [
    (2, 12, "ran longer than the time limit (2 s)"),
    (0, 3, "ran longer than the hard time limit (3 s)"),
])
def test_time_limits_stop_a_runaway_job_and_the_worker_serves_on(trained_run, tmp_path, soft,
                                                                  hard, message):
    """A runaway evaluation (30,000 segments at beam 12, ~20 s on an idle machine, longer on a
    busy one) on a worker with short limits. With a soft limit the task stops itself and
    records the error (the hard limit, far behind, leaves a busy machine all the time it
    needs for that); with only a hard limit (TASK_SOFT_TIME_LIMIT=0) the pool process is
    killed and the worker's main process records it. Either way the next job is served."""
    with EmbeddedRedis(tmp_path) as server:
        env = {"REDIS_URL": server.url, "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}",
               "PRECISION": "fp32",
               "CHECKPOINT_DIRS": str(trained_run["dir"].parent), "TORCH_THREADS": "1",
               "TASK_SOFT_TIME_LIMIT": str(soft), "TASK_TIME_LIMIT": str(hard),
               "VISIBILITY_TIMEOUT": str(hard + 10)}
        settings = Settings.from_env(env, dotenv=None)
        app = make_app(settings)
        workers = WorkerSet(env, tmp_path)
        workers.start("docs")
        try:
            workers.wait_ready(app, names=("docs",))
            wait_until_warm(workers, "docs", tmp_path / "docs.log")
            store = JobStore(settings)
            intake = Intake(store, app)
            lines = [ln for ln in make_document(30000, seed=12).splitlines() if ln]
            job = intake.submit_evaluation(f"{trained_run['dir'].name}/best.pt",
                                          source="\n".join(lines), reference="\n".join(lines),
                                          beam_size=12)
            job = wait_for_job(store, job["id"], timeout=60)
            assert job["status"] == "failed" and message in job["error"], job
            # A hard limit killed the pool process: its replacement loads the model first (a
            # job sent before that waits for it, and a 3 s limit would strike on a busy
            # machine while it waits, as wait_until_warm says).
            wait_until_warm(workers, "docs", tmp_path / "docs.log")
            ok = wait_for_job(store, intake.submit_document("red blue cat\n", PAIR)["id"])
            assert ok["status"] == "done", ok
        finally:
            workers.stop_all()
