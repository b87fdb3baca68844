"""How often does `kill -9` of a worker just after a message reaches its queue lose the message?

kombu's Redis transport takes a message with BRPOP (a pop) and records it as unacknowledged
only after reading the reply; a worker killed in between loses the message, and no visibility
timeout brings it back (the job-level recovery sweep does: see README, "Delivery").

    python benchmarks/delivery_loss.py --trials 8 --delay 0.0005

Each trial starts a 1-process document worker on a private Redis, waits until it is idle
(BRPOP outstanding), sends one chunk task for a job that does not exist, kills the worker
`--delay` seconds later and checks whether the message is still queued or unacknowledged, or
the task ran (its result is stored); if none of these, the message was lost.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from worker.celery_app import CHUNK_TASK, docs_queue, make_app
from worker.redis_server import EmbeddedRedis
from worker.serve import wait_for_workers, worker_command
from worker.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

PAIR = "de-en"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.0005, help="seconds before the kill")
    parser.add_argument("--checkpoint", default=str(ROOT / "runs/quick/best.pt"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        state = Path(tmp)
        env = {**os.environ, "REDIS_URL": server.url, "MODELS": f"{PAIR}={args.checkpoint}",
               "STATE_DIR": tmp, "PYTHONPATH": str(ROOT)}
        settings = Settings.from_env(env, dotenv=None)
        app, queue = make_app(settings), docs_queue(PAIR)
        client = redis.Redis.from_url(server.url)  # kombu's keys: the queue, `unacked`
        lost = 0
        for trial in range(args.trials):
            proc = subprocess.Popen(worker_command(settings, "docs", 1, "docs"), env=env,
                                    stdout=open(state / "worker.log", "ab"),
                                    stderr=subprocess.STDOUT, start_new_session=True)
            wait_for_workers(app, ["docs"], procs={"docs": proc})
            time.sleep(1.5)  # idle: its BRPOP is waiting
            sent = app.send_task(CHUNK_TASK, args=["no-such-job", 0], queue=queue)
            time.sleep(args.delay)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            time.sleep(0.2)
            # lost: in no queue, not unacknowledged, and it never ran (no stored result)
            gone = (client.llen(queue) == 0 and client.hlen("unacked") == 0
                    and sent.state == "PENDING")
            lost += gone
            print(f"trial {trial + 1}: {'LOST' if gone else 'kept'}", flush=True)
            client.delete(queue, "unacked", "unacked_index")
        print(f"lost {lost} of {args.trials} messages (kill {args.delay * 1000:.1f} ms after "
              f"the send)")


if __name__ == "__main__":
    main()
