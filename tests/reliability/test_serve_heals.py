"""`translator serve` heals itself (issue 18): a killed embedded redis-server is restarted from
its AOF and the messages its workers held go back to their queues at once (not after
VISIBILITY_TIMEOUT); a `translator serve` killed with -9 leaves no process behind, and the
next one on the same state directory finishes the jobs of the first; two serves cannot share
one state directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import PAIR, ROOT, children_of

from worker.redis_server import free_port

JOBS = 30


def start_serve(state, trained_run, port: int) -> subprocess.Popen:
    """serve with its output in a file beside its state (a pipe nobody reads would fill and
    block every process writing to it)."""
    state.mkdir(parents=True, exist_ok=True)
    log = open(state.parent / f"serve-{port}.log", "w")
    env = {**os.environ, "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}",
           "STATE_DIR": str(state), "REDIS_URL": "", "PYTHONPATH": str(ROOT),
           "RATE_LIMIT": "", "DETECT_ACCURACY": "low", "TEXT_PROCESSES": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "translator", "serve", "--port", str(port),
                             "--text-threads", "8"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_path = Path(log.name)
    return proc


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.load(r)["models"] == "ready"
    except (OSError, ValueError, KeyError):
        return False


def wait(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"{what} after {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def client(state):
    from worker.celery_app import make_app
    from worker.intake import Intake
    from worker.settings import Settings
    from worker.store import JobStore

    url = (state / "redis" / "url").read_text().strip()
    settings = Settings.from_env({"REDIS_URL": url, "MODELS": f"{PAIR}=unused.pt"},
                                 dotenv=None)
    store = JobStore(settings)
    return store, Intake(store, make_app(settings))


def all_done(store, ids) -> bool:
    try:
        return all(store.status(i) == "done" for i in ids)
    except Exception:  # noqa: BLE001 (Redis still starting)
        return False


def alive(pids) -> list[int]:
    """The processes still running (a zombie has ended: only its exit status is left)."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state not in ("Z", "X"):
            out.append(pid)
    return out


def command_line(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()[:200]


def stacks(pid: int) -> str:
    """The process's and its children's threads, where py-spy is installed (diagnosis)."""
    spy = shutil.which("py-spy")
    if spy is None:
        return "(py-spy is not installed)"
    out = []
    for p in [pid] + children_of(pid):
        try:
            out.append(subprocess.run([spy, "dump", "--pid", str(p)], capture_output=True,
                                      text=True, timeout=20).stdout[-4000:])
        except (OSError, subprocess.SubprocessError) as exc:
            out.append(f"(py-spy failed on {p}: {exc})")
    return "\n".join(out)


@pytest.fixture
def serve(tmp_path, trained_run):
    procs = []

    def start(state=tmp_path / "state"):
        port = free_port()
        proc = start_serve(state, trained_run, port)
        procs.append(proc)
        wait(lambda: healthy(port) or proc.poll() is not None, 90, "serve did not get ready")
        assert proc.poll() is None, proc.log_path.read_text()[-3000:]
        return proc, port, state

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_killed_redis_is_restarted_and_no_job_waits_for_the_visibility_timeout(serve):
    proc, port, state = serve()
    store, intake = client(state)
    ids = [intake.submit_text(f"red blue cat dog {i % 5}", PAIR).id for i in range(JOBS)]
    redis_pid = int(next(p for p in children_of(proc.pid)
                         if b"redis-server" in open(f"/proc/{p}/cmdline", "rb").read()))
    os.kill(redis_pid, signal.SIGKILL)
    # Deadlines for a busy machine, each far below the VISIBILITY_TIMEOUT (600 s) that the
    # held messages would wait for if serve did not put them back at once.
    back = wait(lambda: healthy(port), 60, "the system did not answer again")
    done = wait(lambda: all_done(store, ids), 120, "the jobs were not all done")
    assert "restarting it from its data" in proc.log_path.read_text()
    assert proc.poll() is None
    print(f"answering again after {back:.1f} s, all {JOBS} jobs done {done:.1f} s later")


def test_a_serve_killed_with_9_leaves_nothing_and_the_next_finishes_its_jobs(serve):
    proc, port, state = serve()
    store, intake = client(state)
    children = children_of(proc.pid)
    assert len(children) >= 4  # redis-server, workers, gunicorn
    ids = [intake.submit_text(f"sun moon tree {i % 7}", PAIR).id for i in range(JOBS)]
    names = {pid: command_line(pid) for pid in children}
    proc.kill()
    proc.wait()
    try:
        wait(lambda: not alive(children), 30, "children outlived serve")
    except AssertionError:
        left = {pid: (names[pid], stacks(pid)) for pid in alive(children)}
        raise AssertionError(f"children outlived serve after 30 s: {left}") from None
    second, port, _ = serve(state)
    store, _ = client(state)  # the same Redis data, a new port and password file
    wait(lambda: all_done(store, ids), 120, "the first serve's jobs were not done")


def test_one_serve_per_state_directory(serve, tmp_path, trained_run):
    proc, _, state = serve()
    second = start_serve(state, trained_run, free_port())
    second.wait(60)
    output = second.log_path.read_text()
    assert second.returncode == 2
    assert f"pid {proc.pid}" in output and "STATE_DIR" in output and "Traceback" not in output
