"""The system's state that belongs to no job: the workers' registry (what each worker serves,
for /status and the pairs the web offers), the lengths of the broker's queues, and whether
Redis answers at all."""

from __future__ import annotations

import json

import redis

from . import keys


class SystemState:
    """The workers' registry and the health of Redis, on the store's client."""

    redis: redis.Redis  # the store's one client (worker/store/jobs.py, JobRecords)

    def register_worker(self, name: str, info: dict) -> None:
        self.redis.hset(keys.WORKERS, name, json.dumps(info))

    def unregister_worker(self, name: str) -> None:
        self.redis.hdel(keys.WORKERS, name)

    def worker_info(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.redis.hgetall(keys.WORKERS).items()}

    def list_lengths(self, names: list[str]) -> dict[str, int]:
        """Lengths of Redis lists by name (the broker's queues; read only)."""
        pipe = self.redis.pipeline()
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute()))

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False
