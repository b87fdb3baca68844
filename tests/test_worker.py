"""The Celery worker with a real redis-server and real worker processes (no eager mode, no fake
Redis): text, document and evaluation jobs, progress, cancellation, bad input, worker death."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import PAIR, WORDS, make_document, wait_for_job, wait_for_progress

from translator.inference.document import count_paragraphs, segment_document, translate_document
from worker.celery_app import (
    CHUNK_TASK,
    DOCUMENT_TASK,
    EVAL_QUEUE,
    EVALUATE_TASK,
    TEXT_TASK,
    docs_queue,
    text_queue,
)
from worker.errors import InputError, JobNotFound, JobStateError
from worker.intake import known_checkpoints
from worker.status import online_workers, queue_lengths
from worker.store import key


def test_text_job_matches_in_process_translation(intake, job_store, trained_translator):
    segments = ["red blue cat", "dog sun moon tree", "", "fish"]
    job = intake.submit_text(segments, PAIR, beam_size=3)
    assert job["status"] in ("queued", "running", "done") and job["kind"] == "text"
    job = wait_for_job(job_store, job["id"])
    assert job["status"] == "done", job
    out = job_store.get_result(job["id"])["translations"]
    assert out == trained_translator.translate(segments, beam_size=3)
    assert out[0] == "cat blue red" and out[2] == ""
    assert job["done"] == job["total"] == 4 and job["run_seconds"] >= 0
    assert job["input_chars"] == sum(map(len, segments))


def test_a_pasted_paragraph_is_translated_sentence_by_sentence(intake, job_store,
                                                               trained_translator):
    """Each segment of a text job is split into sentences like a document (line breaks
    kept), and its sentences are translated as segments of their own."""
    from translator.inference.document import translate_segments

    segments = ["Red blue cat. Dog sun moon tree. Fish bird.", "star rock\nLeaf red cat. Sun"]
    job = wait_for_job(job_store, intake.submit_text(segments, PAIR, beam_size=2)["id"])
    assert job["status"] == "done", job
    out = job_store.get_result(job["id"])["translations"]
    seen = []

    def translate(sentences):
        seen.extend(sentences)
        return trained_translator.translate(sentences, beam_size=2)

    assert out == translate_segments(translate, segments, "xx")
    assert len(seen) == 6 and out[1].count("\n") == 1


def test_text_job_with_reference_is_scored(intake, job_store):
    job = intake.submit_text(["red blue cat dog", "dog sun moon tree"], PAIR, beam_size=1,
                                reference=["dog cat blue red", "tree moon sun dog"])
    job = wait_for_job(job_store, job["id"])
    assert job["scores"]["bleu"] == pytest.approx(100.0)
    assert job["scores"]["signatures"]["bleu"].startswith("nrefs:1")


def test_concurrent_text_jobs_all_complete_identically(intake, job_store, trained_translator):
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(60)]
    with ThreadPoolExecutor(16) as pool:
        jobs = list(pool.map(lambda t: intake.submit_text(t, PAIR, beam_size=2), texts))
    finished = [wait_for_job(job_store, j["id"]) for j in jobs]
    assert all(j["status"] == "done" for j in finished)
    got = [job_store.get_result(j["id"])["translations"][0] for j in finished]
    assert got == trained_translator.translate(texts, beam_size=2)


def test_document_job_in_parallel_chunks_keeps_layout(intake, job_store, trained_translator):
    text = make_document(57)
    job = intake.submit_document(text, PAIR, beam_size=2, filename="doc.txt")
    job = wait_for_job(job_store, job["id"])
    assert job["status"] == "done", job
    n = len(segment_document(text, PAIR.split("-")[0]).sentences)
    assert n > 40 and job["chunks"] == -(-n // 10) and job["total"] == job["done"] == n
    result = job_store.get_result(job["id"])
    expected = translate_document(trained_translator, text, lang=PAIR.split("-")[0],
                                  beam_size=2)
    assert result["text"] == expected
    assert count_paragraphs(result["text"]) == count_paragraphs(text)
    assert len(result["sentences"]) == n
    expected_confidence = [t.confidence for t in trained_translator.translate_scored(
        [s for s, _ in result["sentences"]], beam_size=2)]
    assert result["sentence_confidence"] == pytest.approx(expected_confidence, abs=2e-3)
    # Chunk outputs are removed once assembled.
    assert not job_store.redis.exists(key("job", job["id"], "chunk", "0"))


def test_document_with_reference_gets_scores(intake, job_store, trained_translator):
    text = "red blue cat dog\ndog sun moon tree\n\nfish bird star rock\n"
    reference = "dog cat blue red\ntree moon sun dog\n\nrock star bird fish\n"
    job = wait_for_job(job_store, intake.submit_document(
        text.encode(), PAIR, beam_size=1, reference=reference.encode())["id"])
    assert job["status"] == "done"
    assert job["scores"]["bleu"] == pytest.approx(100.0)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"   \n\n  ", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (bytes(range(256)) * 8, "binary"),
])
def test_bad_documents_are_rejected_and_leave_no_record(intake, job_store, data, message):
    before = job_store.redis.zcard("nmt:jobs")
    with pytest.raises(InputError, match=message) as info:
        intake.submit_document(data, PAIR)
    assert info.value.job is None
    assert job_store.redis.zcard("nmt:jobs") == before  # a bad request fills nothing


def test_bad_input_sent_straight_to_the_worker_fails_the_job_and_worker_serves_on(
        intake, job_store, celery_client):
    """A client that bypasses submit_document's checks: the worker records the error."""
    job = job_store.create("document", PAIR, beam=1, filename="x.bin")
    job_store.redis.set(key("job", job["id"], "input"), b"\xff\xfe\x00binary")
    celery_client.send_task(DOCUMENT_TASK, args=[job["id"]], queue=docs_queue(PAIR))
    job = wait_for_job(job_store, job["id"])
    assert job["status"] == "failed" and "binary" in job["error"]
    ok = wait_for_job(job_store, intake.submit_document("red cat dog", PAIR)["id"])
    assert ok["status"] == "done"


@pytest.mark.parametrize("task, args, queue, message", [
    (EVALUATE_TASK, ["/etc/passwd"], EVAL_QUEUE, "not a checkpoint this server lists"),
    (TEXT_TASK, [PAIR, ["red cat"], 99], text_queue(PAIR), "beam size 99"),
    (TEXT_TASK, [PAIR, ["x" * 6000], 5], text_queue(PAIR), "limit"),
    (TEXT_TASK, ["aa-bb", ["red cat"], 5], text_queue(PAIR), "not a step of the job"),
    (CHUNK_TASK, [7], docs_queue(PAIR), "no chunk 7"),
])
def test_a_forged_task_message_is_refused_by_the_worker(job_store, celery_client, task, args,
                                                        queue, message):
    """A message injected straight into Redis (no intake checks) names a file outside the
    listed checkpoints, a runaway beam or text, another pair, a chunk that does not exist:
    the worker fails the job with a clear error and serves on."""
    kind = {EVALUATE_TASK: "evaluation", TEXT_TASK: "text", CHUNK_TASK: "document"}[task]
    job = job_store.create(kind, PAIR, beam=5, chunks=1 if kind == "document" else None)
    celery_client.send_task(task, args=[job["id"], *args], queue=queue)
    job = wait_for_job(job_store, job["id"])
    assert job["status"] == "failed" and message in job["error"], job["error"]
    assert "Traceback" not in job["error"]


def test_unknown_pair_and_bad_text_requests(intake, job_store):
    with pytest.raises(InputError, match="unknown language pair 'de-xx'") as info:
        intake.submit_text("hallo", "de-xx")
    assert info.value.job is None  # rejected before queuing: no record
    for bad in ("", "   ", [], [1, 2], {"q": "x"}, "x" * 6000, ["a"] * 101):
        with pytest.raises(InputError):
            intake.submit_text(bad, PAIR)
    with pytest.raises(InputError, match="beam_size"):
        intake.submit_text("red", PAIR, beam_size=0)
    with pytest.raises(InputError, match="reference"):
        intake.submit_text(["red", "cat"], PAIR, reference=["x"])


@pytest.mark.parametrize("pair, message", [("aa-bb", "not found"),
                                           ("cc-dd", "not a readable checkpoint")])
def test_missing_or_corrupt_checkpoint_fails_the_job_and_worker_serves_on(
        intake, job_store, pair, message):
    for submit in (lambda: intake.submit_text("hello", pair),
                   lambda: intake.submit_document("hello world.", pair)):
        job = wait_for_job(job_store, submit()["id"])
        assert job["status"] == "failed"
        assert message in job["error"] and "Traceback" not in job["error"]
    ok = wait_for_job(job_store, intake.submit_text("red cat", PAIR)["id"])
    assert ok["status"] == "done"


def test_evaluation_on_named_test_set_and_upload(intake, job_store, trained_run):
    name = f"{trained_run['dir'].name}/best.pt"
    assert name in known_checkpoints(job_store.settings)
    job = wait_for_job(job_store, intake.submit_evaluation(
        name, testset="test_2016_flickr", beam_size=2)["id"])
    assert job["status"] == "done", job
    assert job["scores"]["bleu"] >= 90 and job["pair"] == PAIR
    assert set(job["scores"]["signatures"]) == {"bleu", "chrf", "ter"}
    assert len(job_store.get_result(job["id"])["hypotheses"]) == job["total"] == 100
    up = wait_for_job(job_store, intake.submit_evaluation(
        name, source="red blue cat dog\ndog sun moon tree\n",
        reference="dog cat blue red\ntree moon sun dog\n")["id"])
    assert up["status"] == "done" and up["scores"]["bleu"] == pytest.approx(100.0)


def test_an_evaluation_records_its_length_penalty_and_the_board_keeps_them_apart(
        intake, job_store, client, trained_run):
    from translator.defaults import LENGTH_PENALTY
    from worker.leaderboard import leaderboard

    name = f"{trained_run['dir'].name}/best.pt"
    jobs = [wait_for_job(job_store, intake.submit_evaluation(
        name, testset="test_2016_flickr", beam_size=2)["id"]) for _ in range(2)]
    assert [j["alpha"] for j in jobs] == [LENGTH_PENALTY] * 2
    greedy = wait_for_job(job_store, intake.submit_evaluation(
        name, testset="test_2016_flickr", beam_size=1)["id"])
    assert greedy["status"] == "done" and greedy.alpha is None  # greedy: no length penalty
    assert client.get(f"/jobs/{jobs[0]['id']}").get_data(as_text=True).count(
        "Length penalty") == 1
    ids = {j["id"] for j in jobs}
    [board] = leaderboard(intake, lambda job: job.id in ids)
    assert len(board["rows"]) == 1  # one checkpoint, one search: its latest evaluation
    job_store.update(jobs[0]["id"], force=True, alpha=0.6)  # as one of the 0.6 days
    [board] = leaderboard(intake, lambda job: job.id in ids)
    assert sorted(r["alpha"] for r in board["rows"]) == sorted([0.6, LENGTH_PENALTY])
    page = client.get("/checkpoints").get_data(as_text=True)
    assert "α 0.6" in page and f"α {LENGTH_PENALTY:g}" in page


def test_evaluation_rejects_unknown_or_traversing_checkpoint_names(intake, job_store):
    for name in ("nope.pt", "../../etc/passwd", "/etc/passwd"):
        with pytest.raises(InputError, match="unknown checkpoint"):
            intake.submit_evaluation(name, testset="test_2016_flickr")
    with pytest.raises(InputError, match="test set"):
        intake.submit_evaluation(next(iter(known_checkpoints(job_store.settings))),
                                    testset="../secret")
    with pytest.raises(InputError):
        intake.submit_evaluation(next(iter(known_checkpoints(job_store.settings))))


def test_evaluation_of_unknown_test_set_fails_cleanly(intake, job_store, trained_run):
    name = f"{trained_run['dir'].name}/best.pt"
    job = wait_for_job(job_store, intake.submit_evaluation(name, testset="test_2099")["id"])
    assert job["status"] == "failed" and "test_2099" in job["error"]


def test_cancel_a_running_document_job(intake, job_store):
    job = intake.submit_document(make_document(3000, seed=5), PAIR, beam_size=5)
    wait_for_progress(job_store, job["id"])
    cancelled = intake.cancel_job(job["id"])
    assert cancelled["status"] == "cancelled"
    # The chunks still running notice it at their next batch and stop: progress stands still
    # (1 s without change) well before the document could have been translated.
    done, still_since, deadline = -1, time.monotonic(), time.monotonic() + 20
    while time.monotonic() - still_since < 1:
        now = job_store.get_job(job["id"])["done"]
        if now != done:
            done, still_since = now, time.monotonic()
        assert time.monotonic() < deadline, "progress kept moving after the cancel"
        time.sleep(0.05)
    job = job_store.get_job(job["id"])
    assert job["status"] == "cancelled" and done < job["total"]
    assert job_store.get_result(job["id"]) is None
    with pytest.raises(JobStateError):
        intake.cancel_job(job["id"])
    with pytest.raises(JobNotFound):
        intake.cancel_job("0" * 32)
    ok = wait_for_job(job_store, intake.submit_text("red cat", PAIR)["id"])
    assert ok["status"] == "done"


def test_list_jobs_newest_first_with_paging(intake, job_store):
    ids = [intake.submit_text(f"red cat {i}", PAIR)["id"] for i in range(3)]
    jobs, total = job_store.list_jobs(0, 3)
    assert [j["id"] for j in jobs] == ids[::-1]
    later, total2 = job_store.list_jobs(1, 2)
    assert [j["id"] for j in later] == ids[::-1][1:3] and total2 == total >= 3
    assert job_store.get_job("not-an-id") is None


def test_workers_report_their_queues_and_models(job_store, celery_client):
    workers = online_workers(job_store, celery_client)
    names = {w["name"].split("@")[0]: w for w in workers}
    assert {"text", "docs"} <= set(names)
    assert f"text.{PAIR}" in names["text"]["queues"]
    assert f"docs.{PAIR}" in names["docs"]["queues"] and "eval" in names["docs"]["queues"]
    assert PAIR in names["docs"]["models"]
    assert set(queue_lengths(job_store)) >= {f"text.{PAIR}", f"docs.{PAIR}", "eval"}


def test_killed_worker_process_loses_no_sentence(intake, job_store, workers,
                                                  trained_translator):
    """kill -9 of the pool processes in the middle of a document job: the job still completes,
    with every sentence translated exactly once and in order."""
    text = make_document(300, seed=11)
    job = intake.submit_document(text, PAIR, beam_size=4)
    wait_for_progress(job_store, job["id"])
    killed = workers.children("docs")
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    job = wait_for_job(job_store, job["id"], timeout=120)
    assert job["status"] == "done", job
    result = job_store.get_result(job["id"])
    expected = translate_document(trained_translator, text, lang=PAIR.split("-")[0],
                                  beam_size=4)
    assert result["text"] == expected
    assert len(result["sentences"]) == job["total"]
    assert [s for s, _ in result["sentences"]] == segment_document(text, "xx").sentences
    assert set(workers.children("docs")).isdisjoint(killed)  # the pool replaced them


def test_job_records_are_json_in_redis(intake, job_store):
    job = wait_for_job(job_store, intake.submit_text("red cat", PAIR)["id"])
    raw = job_store.redis.hgetall(key("job", job["id"]))
    assert json.loads(raw[b"status"]) == "done"
    assert job_store.redis.ttl(key("job", job["id"])) > 0


def test_a_finished_status_is_final(job_store):
    job = job_store.create("text", PAIR)
    assert job_store.finish(job["id"], "cancelled")
    assert not job_store.update(job["id"], status="running")
    assert not job_store.finish(job["id"], "done")
    assert job_store.get_job(job["id"])["status"] == "cancelled"
    assert job_store.update(job["id"], force=True, error="admin")


def test_worker_log_lines_are_structured_with_the_job_id(intake, job_store, workers):
    job = wait_for_job(job_store, intake.submit_document("red cat dog\n", PAIR)["id"])
    assert job["status"] == "done"
    lines = (workers.log_dir / "docs.log").read_text().splitlines()
    mine = [ln for ln in lines if f"job={job['id']}" in ln]
    assert mine and all(ln.startswith("ts=") and " level=" in ln for ln in mine)
    assert any("task=translate_chunk:" in ln for ln in mine)


@pytest.fixture()
def quiet_broker(tmp_path, trained_run):
    """A private Redis that no worker consumes from or sweeps, with the workers' Celery
    configuration: what the recovery functions find there is only what the test put there."""
    from worker.celery_app import make_app
    from worker.dispatch import Dispatcher
    from worker.recovery import Recovery
    from worker.redis_server import EmbeddedRedis
    from worker.settings import Settings
    from worker.store import JobStore

    with EmbeddedRedis(tmp_path) as server:
        settings = Settings.from_env({"REDIS_URL": server.url, "VISIBILITY_TIMEOUT": "400",
                                      "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}"},
                                     dotenv=None)
        app = make_app(settings)
        store = JobStore(settings)
        yield app, store, Recovery(store, Dispatcher(store, app))


def test_abandoned_unacknowledged_messages_are_redelivered(quiet_broker):
    """A message taken by a worker that then vanished (never acked) goes back to its queue
    once it is older than the visibility timeout, and only then."""
    app, store, recovery = quiet_broker
    client = store.redis
    with app.connection_for_write() as conn:
        conn.SimpleQueue("test.redelivery").put({"hello": "world"})
        channel = conn.channel()
        message = channel.basic_get("test.redelivery", no_ack=False)  # taken, never acked
        assert message is not None
        tag = message.delivery_tag
        index = channel.unacked_index_key
        assert client.llen("test.redelivery") == 0 and client.zscore(index, tag)
        assert recovery.redeliver_abandoned() == 0  # still within the visibility timeout
        old = time.time() - app.settings.visibility_timeout - 1
        client.zadd(index, {tag: old})  # as if its worker died that long ago
        assert recovery.redeliver_abandoned() == 1
        assert client.llen("test.redelivery") == 1 and client.zscore(index, tag) is None


def _queued_ids(client, queue: str) -> list[str]:
    return [json.loads(m)["properties"]["correlation_id"] for m in client.lrange(queue, 0, -1)]


def test_a_stalled_job_gets_only_its_lost_tasks_resent(quiet_broker):
    """Of a job's three chunk messages, one waits in the queue, one is held unacknowledged by
    a worker, and one was popped by a worker that died before recording it (lost: no
    visibility timeout brings it back). Once the job has been idle for the stall period,
    exactly the lost one is sent again, under its own task id, and only once per period."""
    from worker.celery_app import CHUNK_TASK
    from worker.dispatch import TaskSpec

    app, store, recovery = quiet_broker
    client, queue = store.redis, docs_queue(PAIR)
    job = store.create("document", PAIR)
    ids = recovery.dispatcher.send(
        job["id"], [TaskSpec(CHUNK_TASK, [job["id"], i], queue) for i in range(3)])
    assert _queued_ids(client, queue) == ids[::-1]  # LPUSH in, RPOP out: first sent first
    assert set(store.pending_tasks(job["id"])) == set(ids)
    with app.connection_for_write() as conn:
        held = conn.channel().basic_get(queue, no_ack=False)  # a live worker holds ids[0]
        assert held.properties["correlation_id"] == ids[0]
        lost = json.loads(client.rpop(queue))  # ids[1]: popped, never recorded
        assert lost["properties"]["correlation_id"] == ids[1]
        assert recovery.find_messages([queue], ids) == {ids[0], ids[2]}

        assert recovery.recover_stalled(stall_after=60) == {}  # active a moment ago
        client.zadd(key("active"), {job["id"]: time.time() - 61})
        assert recovery.recover_stalled(stall_after=60, confirm_after=0.1) == {job["id"]: 1}
        assert _queued_ids(client, queue) == [ids[1], ids[2]]
        assert set(store.pending_tasks(job["id"])) == set(ids)  # still pending until they run
        client.zadd(key("active"), {job["id"]: time.time() - 61})
        assert recovery.recover_stalled(stall_after=60) == {}  # claimed for this period
        assert recovery.find_messages([queue], ids) == set(ids)


def test_a_task_seen_again_or_finished_at_the_second_look_is_not_resent(quiet_broker):
    """A message between a live worker's pop and its unacked record is briefly in no list:
    the sweep looks twice. Of three popped messages, one is back in its queue by the second
    look (as a restore would put it) and one has finished (no longer pending): only the third,
    missing both times, is re-sent."""
    from worker.celery_app import CHUNK_TASK
    from worker.dispatch import TaskSpec

    app, store, recovery = quiet_broker
    client, queue = store.redis, docs_queue(PAIR)
    job = store.create("document", PAIR)
    ids = recovery.dispatcher.send(
        job["id"], [TaskSpec(CHUNK_TASK, [job["id"], i], queue) for i in range(3)])
    popped = [client.rpop(queue) for _ in ids]
    assert [json.loads(m)["properties"]["correlation_id"] for m in popped] == ids
    client.zadd(key("active"), {job["id"]: time.time() - 61})

    def between_the_looks():
        client.lpush(queue, popped[0])
        store.task_finished(job["id"], ids[1])

    timer = threading.Timer(0.3, between_the_looks)
    timer.start()
    try:
        assert recovery.recover_stalled(stall_after=60, confirm_after=1.0) == {job["id"]: 1}
    finally:
        timer.join()
    assert _queued_ids(client, queue) == [ids[2], ids[0]]


def test_finished_jobs_leave_the_recovery_index(quiet_broker):
    app, store, recovery = quiet_broker
    done, stale = store.create("text", PAIR), store.create("text", PAIR)
    assert store.redis.zscore(key("active"), done["id"]) is not None
    store.finish(done["id"], "done")
    assert store.redis.zscore(key("active"), done["id"]) is None
    store.update(stale["id"], force=True, status="cancelled")  # finished, still indexed
    store.redis.zadd(key("active"), {stale["id"]: time.time() - 100})
    assert recovery.recover_stalled(stall_after=60) == {}
    assert store.redis.zscore(key("active"), stale["id"]) is None


def test_task_messages_show_the_job_id_not_the_texts(quiet_broker):
    """Celery keeps a repr of a task's arguments in its message for Flower, the logs and
    `inspect`: ours hold the job id only, never what the user sent."""
    from worker.celery_app import TEXT_TASK, text_queue
    from worker.dispatch import TaskSpec

    app, store, recovery = quiet_broker
    job = store.create("text", PAIR)
    secret = "Mein Passwort ist Tulpe7"
    recovery.dispatcher.send(job["id"], [TaskSpec(TEXT_TASK, [job["id"], PAIR, [secret], 5],
                                                  text_queue(PAIR))])
    message = json.loads(store.redis.rpop(text_queue(PAIR)))
    assert message["headers"]["argsrepr"] == f"[{job['id']!r}, ...]"
    assert secret not in json.dumps(message["headers"])


def test_finished_tasks_are_no_longer_pending(intake, job_store):
    text = wait_for_job(job_store, intake.submit_text(["red cat"], PAIR)["id"])
    doc = wait_for_job(job_store, intake.submit_document(make_document(30, seed=3), PAIR)["id"])
    for job in (text, doc):
        assert job["status"] == "done"
        deadline = time.monotonic() + 10  # after_return runs just after the result is stored
        while job_store.pending_tasks(job["id"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job_store.pending_tasks(job["id"]) == {}
        assert job_store.redis.zscore(key("active"), job["id"]) is None


def test_workers_decode_at_the_configured_precision(trained_run):
    """The default precision (int8 on the CPU) reaches the worker's model: the same output as
    an int8 Translator in-process, and fp32 when configured."""
    from translator import Translator
    from worker.celery_app import make_app
    from worker.runtime import WorkerState
    from worker.settings import Settings

    models = f"{PAIR}={trained_run['dir'] / 'best.pt'}"
    src = ["red blue cat dog", "fish bird star rock leaf"]
    int8 = Translator.from_checkpoint(trained_run["dir"] / "best.pt", int8=True)
    for precision, quantized in (("auto", True), ("fp32", False)):
        settings = Settings.from_env({"MODELS": models, "PRECISION": precision}, dotenv=None)
        state = WorkerState(make_app(settings))
        model = state.translator_for(PAIR).model
        names = {type(m).__module__ for m in model.modules()}
        assert any("quantized" in n for n in names) == quantized, names
        if quantized:
            assert state.translator_for(PAIR).translate(src, beam_size=2) == \
                int8.translate(src, beam_size=2)


def test_a_soft_time_limit_outside_the_jobs_error_handling_fails_the_job(quiet_broker,
                                                                         trained_run):
    """The soft limit can strike before `run_job`'s error handling, while a task waits for its
    pool process's import of the model code (seen on a loaded machine): the task's
    on_failure records it, or the job would stay queued for good. A job already final keeps
    its status. Run in a process of its own, as a pool process runs it (worker_state is
    built from the environment)."""
    import subprocess
    import sys

    app, store, _ = quiet_broker
    waiting, finished = store.create("text", PAIR), store.create("text", PAIR)
    store.finish(finished["id"], "done", result={"translations": []})
    script = (
        "import sys\n"
        "from celery.exceptions import SoftTimeLimitExceeded\n"
        "from worker.tasks import translate_text\n"
        "for job_id in sys.argv[1:]:\n"
        "    translate_text.on_failure(SoftTimeLimitExceeded(), 'task', (job_id,), {}, None)\n")
    env = {**os.environ, "REDIS_URL": store.settings.redis_url,
           "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}", "TASK_SOFT_TIME_LIMIT": "7"}
    subprocess.run([sys.executable, "-c", script, waiting["id"], finished["id"]], env=env,
                   check=True, timeout=120)
    failed = store.get_job(waiting["id"])
    assert failed.status == "failed"
    assert failed.error == "the job ran longer than the time limit (7 s) and was stopped"
    assert store.get_job(finished["id"]).status == "done"
