"""The store's one Redis client, and how it rides out a Redis restart: the workers retry a
failed command with backoff (`PatientBackoff`) until their process begins its shutdown
(`stop_riding_out`); the web fails fast, so that a page can say 503."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


class PatientBackoff(ExponentialBackoff):
    """The workers' wait between retries of a failed Redis command, until the process begins
    its shutdown (`stop_riding_out`); from then on a failed command fails at once. A warm
    shutdown waits for its running tasks, and tasks riding out a Redis that is gone for good
    (a killed `translator serve` takes its embedded Redis with it) held it for a minute; their
    messages are not acknowledged, so they run again."""

    hurry = False  # class-wide: redis-py copies the retry policy into every connection

    def compute(self, failures: int) -> float:
        if PatientBackoff.hurry:
            raise redis.ConnectionError("Redis is unreachable and this worker is shutting down")
        return super().compute(failures)


def stop_riding_out() -> None:
    """From now on this process's failed Redis commands are not retried (it is stopping)."""
    PatientBackoff.hurry = True


def connect(url: str, patient: bool = False) -> redis.Redis:
    """A client of the Redis at `url` (REDIS_URL; empty: the local default). `patient` (the
    workers): ride out a Redis restart by retrying each command with backoff for about a
    minute; otherwise (the web) fail fast."""
    backoff = (PatientBackoff if patient else ExponentialBackoff)(cap=2.0, base=0.05)
    retry = Retry(backoff, retries=40 if patient else 1)
    return redis.Redis.from_url(url or "redis://127.0.0.1:6379/0",
                                socket_timeout=10, socket_connect_timeout=3,
                                health_check_interval=15, retry=retry,
                                retry_on_error=[redis.ConnectionError, redis.TimeoutError])
