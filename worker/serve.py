"""`translator serve`: one machine, one command. Starts a private Redis (unless REDIS_URL is
set), the interactive workers (TEXT_PROCESSES processes, each a thread pool + micro-batcher)
and a document/evaluation worker (prefork) for the configured pairs, and the web app when it
is installed; Ctrl-C stops them all.

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
from .processes import child_setup
from .redis_server import RedisServerError, redis_url_or_embedded
from .settings import Settings


def worker_command(settings: Settings, kind: str, concurrency: int, name: str,
                   loglevel: str = "INFO") -> list[str]:
    """The `celery worker` command line of a `text` or `docs` worker."""
    pool = "threads" if kind == "text" else "prefork"
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
            "-Q", ",".join(worker_queues(settings, kind)), "-P", pool, "-c", str(concurrency),
            "-n", f"{name}@%h", "--loglevel", loglevel, "--without-mingle", "--without-gossip"]


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

    def may_restart(self, name: str) -> bool:
        """Count a restart of `name` (a process, or the redis-server that serve revives):
        False when that makes more than `max_restarts` within a minute."""
        now = time.monotonic()
        recent = [t for t in self.restarts.get(name, []) if now - t < 60] + [now]
        self.restarts[name] = recent
        return len(recent) <= self.max_restarts

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
            preexec_fn=child_setup(nice))
        return self.procs[name]

    def check(self) -> list[str]:
        """Restart exited processes; returns their names. Raises RuntimeError when one keeps
        dying."""
        restarted = []
        for name, proc in list(self.procs.items()):
            if proc.poll() is None:
                continue
            if not self.may_restart(name):
                raise RuntimeError(f"the {name} keeps exiting (code {proc.returncode})")
            print(f"the {name} exited with code {proc.returncode}; restarting it",
                  file=sys.stderr, flush=True)
            self.start(name)
            restarted.append(name)
        return restarted

    def halt(self, names: list[str], timeout: float = 10) -> None:
        """Stop these processes (SIGTERM, a Celery worker's warm shutdown; SIGKILL after
        `timeout` seconds), keeping their specs for `start`."""
        for name in names:
            if self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in names:
            try:
                self.procs[name].wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.procs[name].kill()
                self.procs[name].wait()

    def stop(self, name: str | None = None, timeout: float = 30) -> None:
        """Stop one process (or all) as `halt` does, and forget it: `check` no longer
        restarts it."""
        names = [name] if name else list(self.procs)
        self.halt(names, timeout)
        for n in names:
            self.procs.pop(n)
            self.specs.pop(n)
            self.restarts.pop(n, None)


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


def web_env(env: dict, host: str) -> dict:
    """The web app's environment: serve's, and WEB_HOST, the address gunicorn binds, which
    tells the app whether it is a private server on loopback (Settings.job_rate_limit)."""
    return {**env, "WEB_HOST": host}


def unusable_checkpoints(settings: Settings) -> dict[str, str]:
    """{pair: why} of the served pairs whose checkpoint (each one of an ensemble) is missing
    or unreadable (checked without loading it: translator/checkpoint_file.py)."""
    from translator.checkpoint_file import why_spec_unreadable

    paths = settings.model_paths()
    out = {}
    for pair in settings.served_pairs():
        why = why_spec_unreadable(paths[pair])
        if why:
            out[pair] = f"{paths[pair]}: {why}"
    return out


class ServeError(RuntimeError):
    """`translator serve` cannot start (its state directory is in use)."""


def hold_state_dir(state_dir: str | Path) -> int:
    """Lock STATE_DIR for this serve (the lock file holds its pid); the lock ends with the
    process, however it ends. A second serve on the same directory is refused, naming the
    first."""
    import fcntl

    path = Path(state_dir)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ServeError(f"another translator serve (pid {holder}) is using STATE_DIR="
                         f"{state_dir}: stop it, or give this one its own STATE_DIR") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def take_back_messages(settings: Settings) -> int:
    """Every message left unacknowledged in the private Redis goes back to its queue now,
    not after VISIBILITY_TIMEOUT: serve owns every consumer of that Redis, and none is
    running (called before the workers start). A task a worker had finished but not yet
    acknowledged runs again; tasks are idempotent (worker/lifecycle.py), so at worst it
    writes the same result twice."""
    from .celery_app import make_app
    from .recovery import redeliver_unacked

    app = make_app(settings)
    try:
        n = redeliver_unacked(app, None)
    finally:
        app.close()
    if n:
        print(f"put {n} unfinished task(s) of the previous run back in their queues",
              flush=True)
    return n


def revive_redis(redis_server, settings: Settings, supervisor: Supervisor) -> None:
    """The private redis-server died (kill -9, the OOM killer): start it again from its AOF,
    give back the messages its workers held, and restart the workers (the web reconnects by
    itself and answers 503 meanwhile)."""
    code = redis_server.exited()
    print(f"the redis-server exited (code {code}); restarting it from its data", flush=True,
          file=sys.stderr)
    started = time.monotonic()
    workers = [name for name in supervisor.procs if name != "web"]
    supervisor.halt(workers, timeout=5)  # stopped before their messages go back
    halted = time.monotonic()
    redis_server.revive()
    revived = time.monotonic()
    take_back_messages(settings)
    for name in workers:
        supervisor.start(name)
    print(f"the redis-server and the workers are back (workers stopped in "
          f"{halted - started:.1f} s, Redis up in {revived - halted:.1f} s, messages back in "
          f"{time.monotonic() - revived:.1f} s)", flush=True, file=sys.stderr)


def serve(host: str = "127.0.0.1", port: int = 8000, text_threads: int = 64,
          doc_processes: int = 1, web: bool = True, text_torch_threads: int | None = None
          ) -> int:
    settings = Settings.from_env()
    unusable = unusable_checkpoints(settings)
    if len(unusable) == len(settings.served_pairs()):
        print("error: no usable checkpoint: " + "; ".join(
            f"{pair}: {why}" for pair, why in unusable.items())
            + " (train one, or set MODELS)", file=sys.stderr)
        return 2
    for pair, why in unusable.items():  # the others serve; these are listed as unavailable
        print(f"warning: {pair} is unavailable: {why}", file=sys.stderr, flush=True)
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)  # Ctrl-C, docker stop, systemd: one clean shutdown
    signal.signal(signal.SIGINT, stop)
    lock = hold_state_dir(settings.state_dir)  # noqa: F841 (held while serve runs)
    url, redis_server = redis_url_or_embedded(settings.redis_url, settings.state_dir,
                                              die_with_parent=True)
    env = {**os.environ, "REDIS_URL": url}  # no SECRET_KEY: the web keeps one in STATE_DIR
    settings = Settings.from_env(env)
    supervisor = Supervisor()
    try:
        if redis_server:
            print(f"started a private redis-server on 127.0.0.1:{redis_server.port} "
                  f"(data in {redis_server.dir})", flush=True)
            take_back_messages(settings)
        start_workers(settings, env, text_threads, doc_processes, text_torch_threads,
                      supervisor=supervisor)
        web_cmd = web_command(host, port, settings) if web else None
        if web_cmd:
            supervisor.add("web", web_cmd, web_env(env, host))
            limit = Settings.from_env(web_env(env, host)).job_rate_limit()
            print(f"\n  serving on http://{host}:{port}/  (Ctrl-C stops everything)\n"
                  f"  {limit.describe()}\n", flush=True)
        else:
            print("\n  workers are running (Ctrl-C stops them)\n", flush=True)
        while not stopping:
            if redis_server and redis_server.exited() is not None:
                if not supervisor.may_restart("redis-server"):
                    print("error: the redis-server keeps exiting; its log is "
                          f"{redis_server.dir / 'redis.log'}", file=sys.stderr)
                    return 1
                try:
                    revive_redis(redis_server, settings, supervisor)
                except RedisServerError as exc:
                    print(f"error: the redis-server could not be restarted: {exc}",
                          file=sys.stderr)
                    return 1
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
