"""`translator serve`: one command starts a private Redis and the workers; SIGINT stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from helpers import PAIR, ROOT, children_of, wait_for_job

from worker.redis_server import free_port


def _children_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


def test_serve_runs_jobs_and_stops_cleanly_on_ctrl_c(trained_run, tmp_path):
    from worker.celery_app import make_app
    from worker.intake import Intake
    from worker.settings import Settings
    from worker.store import JobStore

    state = tmp_path / "state"
    env = {**os.environ, "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}",
           "STATE_DIR": str(state), "REDIS_URL": "", "PYTHONPATH": str(ROOT)}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "translator", "serve", "--port", str(port),
                             "--text-threads", "4"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url_file = state / "redis" / "url"
        deadline = time.monotonic() + 180  # slow on a loaded machine, not dead
        while not url_file.exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert oct(url_file.stat().st_mode & 0o777) == "0o600"
        settings = Settings.from_env({**env, "REDIS_URL": url_file.read_text().strip()},
                                     dotenv=None)
        store = JobStore(settings)
        intake = Intake(store, make_app(settings))
        job = wait_for_job(store, intake.submit_text("red blue cat", PAIR, beam_size=2)["id"])
        assert job["status"] == "done"
        assert store.get_result(job["id"])["translations"] == ["cat blue red"]
        deadline = time.monotonic() + 180
        while True:  # the web app (gunicorn) answers on the printed URL
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                    health = json.load(r)
                    assert health["web"] == "ok" and health["redis"] == "ok", health
                break
            except OSError:
                assert time.monotonic() < deadline, "the web app did not answer"
                time.sleep(0.2)
        children = children_of(proc.pid)
        assert len(children) >= 4  # redis-server, two workers, gunicorn
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output
        assert "stopping" in output and "Traceback" not in output
        assert f"http://127.0.0.1:{port}/" in output
        deadline = time.monotonic() + 10
        while _children_alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _children_alive(children)
        assert (state / "redis" / "appendonlydir").is_dir()  # AOF persistence on
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_refuses_a_missing_checkpoint(tmp_path):
    env = {**os.environ, "MODELS": f"{PAIR}={tmp_path / 'none.pt'}", "STATE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "translator", "serve", "--no-web"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "no usable checkpoint" in out.stderr and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_serve_refuses_when_its_only_checkpoint_is_corrupt(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    env = {**os.environ, "MODELS": f"{PAIR}={corrupt}", "STATE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "translator", "serve", "--no-web"], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no usable checkpoint" in out.stderr
    assert "weights_only" not in out.stderr and "Traceback" not in out.stderr


def test_the_supervisor_restarts_a_process_until_it_keeps_exiting():
    from worker.serve import Supervisor

    supervisor = Supervisor(max_restarts=2)
    supervisor.add("crasher", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    restarted, deadline = 0, time.monotonic() + 30
    try:
        while True:
            assert time.monotonic() < deadline, "never gave up"
            supervisor.procs["crasher"].wait(10)
            try:
                restarted += len(supervisor.check())
            except RuntimeError as exc:
                assert "crasher keeps exiting (code 3)" in str(exc)
                break
        assert restarted == 2  # max_restarts within a minute, then the error
        assert supervisor.may_restart("redis-server") and supervisor.may_restart("redis-server")
        assert not supervisor.may_restart("redis-server")  # one budget per name
    finally:
        supervisor.stop()
    assert supervisor.procs == {} and supervisor.specs == {}


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path):
    from worker.serve import Supervisor

    supervisor = Supervisor()
    log = tmp_path / "stubborn.log"
    stubborn = supervisor.add("stubborn", [sys.executable, "-c", (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)")], dict(os.environ), log=log)
    deadline = time.monotonic() + 30
    while not (log.exists() and "ready" in log.read_text()):  # its handler installed
        assert time.monotonic() < deadline and stubborn.poll() is None
        time.sleep(0.05)
    started = time.monotonic()
    supervisor.stop(timeout=1)
    assert stubborn.returncode == -signal.SIGKILL and time.monotonic() - started < 10
    assert "stubborn" not in supervisor.procs
