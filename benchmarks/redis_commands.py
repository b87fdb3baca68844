"""Redis commands per LibreTranslate `/translate` job through the whole system (web_load's
set-up): after one warm-up request, Redis' command statistics are reset, `--jobs` one-sentence
requests are sent one after another, and `INFO commandstats` is divided by the jobs. Counts
every client's commands (web, workers, Celery, kombu; commands inside Lua scripts too).

    python benchmarks/redis_commands.py --checkpoint runs/quick/best.pt [--jobs 10]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import redis
from web_load import post, start_system, system_arguments

from worker.redis_server import EmbeddedRedis


def main() -> None:
    p = system_arguments(__doc__)
    p.add_argument("--jobs", type=int, default=10)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    src, tgt = args.pair.split("-")
    state = Path(tempfile.mkdtemp(prefix="redis_commands_"))
    with EmbeddedRedis(state) as server:
        supervisor, base = start_system(server, state, args.checkpoint, args.pair, None)
        try:
            client = redis.Redis.from_url(server.url)
            post(f"{base}/translate", {"q": "Ein Hund.", "source": src, "target": tgt})
            time.sleep(1.5)  # let the warm-up's trailing commands land before the reset
            client.config_resetstat()
            for _ in range(args.jobs):
                post(f"{base}/translate", {"q": "Ein Mann fährt Fahrrad.", "source": src,
                                           "target": tgt})
            time.sleep(0.5)
            stats = client.info("commandstats")
        finally:
            supervisor.stop()
    per_job = {name.removeprefix("cmdstat_"): round(v["calls"] / args.jobs, 2)
               for name, v in sorted(stats.items(), key=lambda kv: -kv[1]["calls"])
               if not name.startswith("cmdstat_config")}
    results = {"jobs": args.jobs, "commands_per_job": round(sum(per_job.values()), 1),
               "by_command": per_job}
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
