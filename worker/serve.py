"""`translator serve`: one machine, one command. Starts a private Redis (unless REDIS_URL is
set), an interactive worker (thread pool + micro-batcher) and a document/evaluation worker
(prefork) for the configured pairs, and the web app when it is installed; Ctrl-C stops them all.

The children run in their own sessions, so a terminal's Ctrl-C reaches only this process, which
asks each child once for a warm shutdown (Celery re-queues what it has not acknowledged).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .celery_app import worker_queues
from .redis_server import redis_url_or_embedded
from .settings import Settings


def worker_command(settings: Settings, kind: str, concurrency: int, name: str,
                   loglevel: str = "INFO") -> list[str]:
    """The `celery worker` command line of a `text` or `docs` worker."""
    pool = "threads" if kind == "text" else "prefork"
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
            "-Q", ",".join(worker_queues(settings, kind)), "-P", pool, "-c", str(concurrency),
            "-n", f"{name}@%h", "--loglevel", loglevel, "--without-mingle", "--without-gossip"]


def lower_priority(nice: int) -> None:
    """Run at a lower CPU priority. A process in its own session is also in its own
    scheduler autogroup (Linux with sched_autogroup), where a plain nice value only ranks it
    against its own group; the group's nice value is what ranks it against the other
    processes, so it is set too."""
    os.nice(nice)
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:  # no autogroups on this system: the plain nice value is what counts
        pass


class Supervisor:
    """Starts named processes and restarts any that exits unexpectedly, like a container
    restart policy. A Celery worker can exit on its own when its broker connection drops
    (kombu raises while closing the lost channel); restarting it is how the system recovers
    by itself. More than `max_restarts` restarts of one process within a minute is an error."""

    def __init__(self, max_restarts: int = 5):
        self.specs: dict[str, dict] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, list[float]] = {}
        self.max_restarts = max_restarts

    def add(self, name: str, argv: list[str], env: dict, nice: int = 0,
            log: Path | None = None, cwd: Path | None = None) -> subprocess.Popen:
        self.specs[name] = {"argv": argv, "env": env, "nice": nice, "log": log, "cwd": cwd}
        return self.start(name)

    def start(self, name: str) -> subprocess.Popen:
        spec = self.specs[name]
        out = open(spec["log"], "ab") if spec["log"] else None
        nice = spec["nice"]
        self.procs[name] = subprocess.Popen(  # noqa: S603 (argv built by serve, no shell)
            spec["argv"], env=spec["env"], cwd=spec["cwd"], stdout=out,
            stderr=subprocess.STDOUT if out else None, start_new_session=True,
            preexec_fn=(lambda: lower_priority(nice)) if nice else None)
        return self.procs[name]

    def check(self) -> list[str]:
        """Restart exited processes; returns their names. Raises RuntimeError when one keeps
        dying."""
        restarted = []
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            now = time.monotonic()
            recent = [t for t in self.restarts.get(name, []) if now - t < 60] + [now]
            self.restarts[name] = recent
            if len(recent) > self.max_restarts:
                raise RuntimeError(f"the {name} keeps exiting (code {proc.returncode})")
            print(f"the {name} exited with code {proc.returncode}; restarting it",
                  file=sys.stderr, flush=True)
            self.start(name)
            restarted.append(name)
        return restarted

    def stop(self, name: str | None = None, timeout: float = 30) -> None:
        names = [name] if name else list(self.procs)
        for n in names:
            if self.procs[n].poll() is None:
                self.procs[n].send_signal(signal.SIGTERM)  # Celery: warm shutdown
        for n in names:
            proc = self.procs.pop(n)
            self.specs.pop(n)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_workers(settings: Settings, env: dict, text_concurrency: int = 16,
                  doc_processes: int = 1, text_torch_threads: int | None = None,
                  docs_nice: int = 10, loglevel: str = "INFO", log_dir: Path | None = None,
                  supervisor: Supervisor | None = None) -> Supervisor:
    """Start the interactive workers and the document worker (the default one-machine set-up).

    TEXT_PROCESSES interactive workers ("text", "text2", ...) share `text_concurrency` task
    threads; each decodes its micro-batches with `text_torch_threads` torch threads (default:
    the cores divided among them). Separate processes decode at once without sharing one GIL
    or one team of OpenMP threads, which a busy 2-core machine stalls (benchmarks/RESULTS.md).
    The document worker runs at a lower CPU priority (`nice`), so a running document uses the
    cores the interactive requests leave idle instead of slowing them down.
    """
    supervisor = supervisor or Supervisor()
    processes = settings.text_processes
    threads = text_torch_threads or max(1, (os.cpu_count() or 1) // processes)
    workers = [(f"text{i + 1}" if i else "text", "text", max(1, text_concurrency // processes),
                threads, 0) for i in range(processes)]
    workers.append(("docs", "docs", doc_processes, settings.torch_threads, docs_nice))
    for name, kind, n, torch_threads, nice in workers:
        supervisor.add(name, worker_command(settings, kind, n, name, loglevel),
                       {**env, "TORCH_THREADS": str(torch_threads)}, nice=nice,
                       log=log_dir / f"{name}.log" if log_dir else None)
    return supervisor


def wait_for_workers(app, names=None, timeout: float = 60,
                     procs: dict[str, subprocess.Popen] | None = None) -> None:
    """Block until a worker of each name (its node name before the "@"; default: every
    worker of `procs`, or "text" and "docs") answers a Celery ping. Raises RuntimeError after
    `timeout` seconds, or at once if one of `procs` (the worker processes by name) has exited."""
    if names is None:
        names = [name for name in procs or {} if name != "web"] or ["text", "docs"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in (procs or {}).items():
            if name in names and proc.poll() is not None:
                raise RuntimeError(f"the {name} worker exited with code {proc.returncode}")
        replies = app.control.ping(timeout=0.5) or []
        if set(names) <= {host.split("@")[0] for reply in replies for host in reply}:
            return
    raise RuntimeError(f"workers {', '.join(names)} did not answer within {timeout:.0f} s")


def web_command(host: str, port: int, settings: Settings | None = None) -> list[str] | None:
    """gunicorn serving the web app with WEB_WORKERS processes of WEB_THREADS threads (None
    where this install has no web package)."""
    if not Path(__file__).resolve().parent.parent.joinpath("web", "__init__.py").exists():
        return None
    settings = settings or Settings.from_env()
    # --preload: the app (and its language detector, ~1.3 GB) is built once in gunicorn's
    # master and shared by the forked workers.
    return [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}",
            "--workers", str(settings.web_workers), "--threads", str(settings.web_threads),
            "--timeout", "60", "--preload", "web.wsgi:app"]


def serve(host: str = "127.0.0.1", port: int = 8000, text_threads: int = 64,
          doc_processes: int = 1, web: bool = True, text_torch_threads: int | None = None
          ) -> int:
    settings = Settings.from_env()
    missing = [f"{pair}: {path}" for pair, path in settings.model_paths().items()
               if pair in settings.served_pairs() and not Path(path).is_file()]
    if missing:
        print("error: no checkpoint at " + "; ".join(missing) + " (train one, or set MODELS)",
              file=sys.stderr)
        return 2
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)  # Ctrl-C, docker stop, systemd: one clean shutdown
    signal.signal(signal.SIGINT, stop)
    url, redis_server = redis_url_or_embedded(settings.redis_url, settings.state_dir)
    env = {**os.environ, "REDIS_URL": url}  # no SECRET_KEY: the web keeps one in STATE_DIR
    settings = Settings.from_env(env)
    supervisor = Supervisor()
    try:
        if redis_server:
            print(f"started a private redis-server on 127.0.0.1:{redis_server.port} "
                  f"(data in {redis_server.dir})", flush=True)
        start_workers(settings, env, text_threads, doc_processes, text_torch_threads,
                      supervisor=supervisor)
        web_cmd = web_command(host, port, settings) if web else None
        if web_cmd:
            supervisor.add("web", web_cmd, env)
            print(f"\n  serving on http://{host}:{port}/  (Ctrl-C stops everything)\n",
                  flush=True)
        else:
            print("\n  workers are running (Ctrl-C stops them)\n", flush=True)
        while not stopping:
            try:
                supervisor.check()
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print("\nstopping...", file=sys.stderr, flush=True)
        return 0
    finally:
        supervisor.stop()
        if redis_server:
            redis_server.stop()
