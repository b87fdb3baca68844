"""A private `redis-server` for one machine: used when no REDIS_URL is configured, and by tests.

It listens on 127.0.0.1 only, on a free port, with a random password, keeps its data (AOF on,
fsync every second) under `STATE_DIR/redis`, and is stopped on exit. The binary is the
`redis-server` on PATH (Debian: `apt-get install redis-server`).
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .processes import child_setup


class RedisServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """`with EmbeddedRedis(state_dir) as server: server.url` (or start()/stop())."""

    def __init__(self, state_dir: str | Path, port: int | None = None,
                 password: str | None = None, appendonly: bool = True,
                 die_with_parent: bool = False):
        self.dir = Path(state_dir, "redis").resolve()
        self.port = port or free_port()
        self.password = password or secrets.token_hex(16)
        self.appendonly = appendonly
        self.die_with_parent = die_with_parent  # `translator serve`'s: ends with serve
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        binary = shutil.which("redis-server")
        self._wait_for_previous()
        if binary is None:
            raise RedisServerError(
                "redis-server was not found on PATH: install it (Debian/Ubuntu: "
                "`apt-get install redis-server`) or set REDIS_URL to a running Redis")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The password goes in a private config file, not on the command line (ps shows that).
        conf = self.dir / "redis.conf"
        conf.touch(mode=0o600)
        conf.chmod(0o600)
        conf.write_text("\n".join([
            "bind 127.0.0.1", f"port {self.port}", f"requirepass {self.password}",
            f'dir "{self.dir}"', f"appendonly {'yes' if self.appendonly else 'no'}",
            "appendfsync everysec", 'save ""', "maxmemory-policy noeviction",
            "protected-mode yes", f'logfile "{self.dir / "redis.log"}"', "daemonize no", ""]))
        self.process = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
            [binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=child_setup() if self.die_with_parent else None)
        atexit.register(self.stop)
        (self.dir / "pid").write_text(f"{self.process.pid}\n")
        self._wait_ready(timeout)
        url_file = self.dir / "url"  # for local tools of the same user (mode 600)
        url_file.touch(mode=0o600)
        url_file.write_text(self.url + "\n")
        return self

    def _wait_for_previous(self, timeout: float = 30.0) -> None:
        """A redis-server of a previous run on this directory that is still shutting down
        (its serve was killed; it got SIGTERM and is flushing its AOF) is waited for: two
        servers must never write one AOF."""
        try:
            pid = int((self.dir / "pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"redis-server" not in cmdline:
            return
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            try:
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    return  # ended; only its exit status is left
            except OSError:
                return
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            raise RedisServerError(f"the redis-server of a previous run (pid {pid}) still "
                                   f"uses {self.dir}; stop it first")

    def _wait_ready(self, timeout: float) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log_file = self.dir / "redis.log"
                tail = log_file.read_text(errors="replace")[-500:] if log_file.exists() else ""
                raise RedisServerError(f"redis-server exited with code {self.process.returncode}:"
                                       f" {tail.strip()}")
            try:
                client.ping()
                # Loading the AOF answers LOADING to commands; wait until it is done.
                if client.info("persistence").get("loading", 0) == 0:
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RedisServerError(f"redis-server did not answer within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self, kill: bool = False) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()  # SIGTERM: redis-server flushes the AOF and exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop and start again on the same port, password and data (tests of reconnection)."""
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


    def exited(self) -> int | None:
        """The exit code of a server that died (kill -9, the OOM killer), reaping it; None
        while it runs (or was never started)."""
        return self.process.poll() if self.process is not None else None

    def revive(self) -> None:
        """Start again after it died: the same port, password and data (its AOF, which may
        take a while to load: up to two minutes)."""
        self.process = None
        self.start(timeout=120)


def redis_url_or_embedded(redis_url: str, state_dir: str | Path, die_with_parent: bool = False
                          ) -> tuple[str, EmbeddedRedis | None]:
    """The configured URL, or a freshly started private server's (which the caller stops)."""
    if redis_url:
        return redis_url, None
    server = EmbeddedRedis(state_dir, die_with_parent=die_with_parent).start()
    os.environ["REDIS_URL"] = server.url  # child processes (workers, web) inherit it
    return server.url, server
