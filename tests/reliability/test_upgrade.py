"""Rolling upgrade: jobs submitted and started by the previous release's code (the last commit
before the worker's redesign, taken from this repository's history with `git archive`) finish
on the current workers, with the same output as in-process translation. The old release's
document worker segments the document and translates some chunks in its own key layout, then
stops (a warm shutdown, as a deploy does); the current workers take over."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from helpers import PAIR, ROOT, WorkerSet, make_document, wait_for_job

from translator.inference.document import translate_document
from worker.celery_app import docs_queue, make_app
from worker.redis_server import EmbeddedRedis
from worker.serve import Supervisor, worker_command
from worker.settings import Settings
from worker.store import JobStore, key

# The last commit whose worker wrote the previous key layout (sentences inside
# `nmt:job:<id>:layout`, no per-chunk sources) and built its Celery app at import.
PREVIOUS_RELEASE = "1fe94ba89cb502ffc235584a6b557bb33d9adce5"

SUBMIT = """
import json, sys
from worker.jobs import JobStore
from worker.celery_app import app
store = JobStore(app.settings, app)
doc = store.submit_document(open(sys.argv[1]).read(), sys.argv[2], beam_size=2)
text = store.submit_text(["red blue cat", "dog sun moon tree"], sys.argv[2], beam_size=2)
print(json.dumps([doc["id"], text["id"]]))
"""


def previous_release(directory: Path) -> Path:
    """The previous release's `translator` and `worker` packages, unpacked in `directory`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar",
                              PREVIOUS_RELEASE, "translator", "worker"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    assert (directory / "worker" / "jobs.py").is_file()
    return directory


@pytest.mark.slow
def test_jobs_started_by_the_previous_release_finish_on_the_current_workers(
        tmp_path, trained_run, trained_translator):
    old = previous_release(tmp_path / "previous")
    with EmbeddedRedis(tmp_path / "state") as server:
        env = {"REDIS_URL": server.url, "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}",
               "PRECISION": "fp32",
               "TORCH_THREADS": "1", "CHUNK_SENTENCES": "10", "BATCH_TOKENS": "400",
               "STATE_DIR": str(tmp_path / "state")}
        settings = Settings.from_env(env, dotenv=None)
        app, store = make_app(settings), JobStore(settings)
        text = make_document(2000, seed=21)
        (tmp_path / "doc.txt").write_text(text)
        old_env = {**os.environ, **env, "PYTHONPATH": str(old)}
        submitted = subprocess.run([sys.executable, "-c", SUBMIT, str(tmp_path / "doc.txt"),
                                    PAIR], env=old_env, cwd=old, capture_output=True,
                                   text=True, check=True)
        doc_id, text_id = json.loads(submitted.stdout.strip().splitlines()[-1])

        old_worker = Supervisor()  # the previous release's document worker, its own code
        old_worker.add("docs", worker_command(settings, "docs", 1, "old"), old_env,
                       log=tmp_path / "old.log", cwd=old)
        try:
            deadline = time.monotonic() + 60
            while store.get_job(doc_id).done < 50:
                assert time.monotonic() < deadline, (tmp_path / "old.log").read_text()[-3000:]
                time.sleep(0.02)
        finally:
            old_worker.stop()  # warm shutdown: its current chunk finishes, the rest wait
        layout = json.loads(store.redis.get(key("job", doc_id, "layout")))
        assert isinstance(layout[0][1], list), "the old layout holds the sentences"
        job = store.get_job(doc_id)
        assert job.status == "running" and 0 < job.done < job.total, job
        assert store.redis.llen(docs_queue(PAIR)) > 0  # chunks left for the new workers

        workers = WorkerSet(env, tmp_path)
        workers.start("docs")
        workers.start("text")
        try:
            workers.wait_ready(app)
            doc = wait_for_job(store, doc_id, timeout=120)
            short = wait_for_job(store, text_id, timeout=60)
        finally:
            workers.stop_all()
        assert doc.status == "done" and doc.done == doc.total, doc
        expected = translate_document(trained_translator, text, lang="xx", beam_size=2)
        assert store.get_result(doc_id)["text"] == expected
        assert short.status == "done"
        assert store.get_result(text_id)["translations"] == trained_translator.translate(
            ["red blue cat", "dog sun moon tree"], beam_size=2)
        assert not store.redis.exists(key("job", doc_id, "chunk", "0"))
