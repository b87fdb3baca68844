"""The evaluation workbench's figures, with a real redis-server and real Celery workers: two
1,000-sentence systems (two trained models' beam-5 outputs on test_2016_flickr) uploaded as
systems, scored and compared once on the evaluation queue; then the server time of the
comparison page and API reading that stored comparison, against the time the same statistics
take to compute (what a request computing them itself, as the leaderboard did before, would
pay), measured in the same run.

    python benchmarks/workbench.py --baseline runs/exp/u1700/old/test_2016_flickr.beam5.en \\
        --system runs/exp/u1700/new/test_2016_flickr.beam5.en --json runs/exp/workbench.json

Server time is the Flask test client's request (routing, access checks, Redis reads, the view
logic, Jinja rendering), the median of --repeat requests per view.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from translator.data.corpus import read_split
from translator.defaults import MULTI30K_DIR, TEST_SPLIT
from web import create_app
from worker.celery_app import make_app
from worker.intake import Intake
from worker.redis_server import EmbeddedRedis
from worker.serve import start_workers, wait_for_workers
from worker.settings import Settings
from worker.store import JobStore

ROOT = Path(__file__).resolve().parent.parent
PAIR = "de-en"
ADMIN_KEY = "workbench-benchmark-admin"


def wait(poll, timeout: float = 600, every: float = 0.01):
    """Call `poll` until it returns something true; (its answer, the seconds waited)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if answer := poll():
            return answer, time.perf_counter() - start
        time.sleep(every)
    raise TimeoutError


def server_time(client, url: str, repeat: int) -> dict:
    """Median and worst seconds of `repeat` GETs of `url` (each must answer 200)."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(url, headers={"X-API-Key": ADMIN_KEY})
        seconds.append(time.perf_counter() - start)
        assert answer.status_code == 200, (url, answer.status_code, answer.data[:300])
    return {"median_s": round(statistics.median(seconds), 4), "max_s": round(max(seconds), 4),
            "bytes": len(answer.data)}


def logged_in(app):
    """A test client of the pages, logged in with the admin key (uploaded systems are private
    to their owner; an admin sees them all)."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"csrf_token": token, "key": ADMIN_KEY}).status_code == 302
    return client


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="one system's output (1,000 lines)")
    p.add_argument("--system", required=True, help="the other's")
    p.add_argument("--checkpoint", required=True,
                   help="a de-en checkpoint the workers serve (they start with a model)")
    p.add_argument("--data", default=os.environ.get("MULTI30K_DIR", MULTI30K_DIR))
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    refs = read_split(args.data, TEST_SPLIT, "de", "en")
    outputs = {name: Path(path).read_text() for name, path in
               (("baseline", args.baseline), ("system", args.system))}
    state = Path(tempfile.mkdtemp(prefix="workbench_"))
    figures: dict = {"segments": len(refs.tgt)}
    with EmbeddedRedis(state) as redis_server:
        env = {**os.environ, "REDIS_URL": redis_server.url,
               "MODELS": f"{PAIR}={Path(args.checkpoint).resolve()}",
               "MULTI30K_DIR": str(Path(args.data).resolve()), "PYTHONPATH": str(ROOT),
               "SECRET_KEY": "workbench-benchmark", "RATE_LIMIT": "none",
               "ADMIN_KEYS": ADMIN_KEY}  # the pages' client sees every evaluation
        settings = Settings.from_env(env, dotenv=None)
        app = make_app(settings)
        store = JobStore(settings)
        intake = Intake(store, app)
        workers = start_workers(settings, env, 1, 1, 1, 0, "WARNING", state)
        try:
            wait_for_workers(app, procs=workers.procs)
            ids = {}
            for name, text in outputs.items():
                job = intake.submit_evaluation(hypotheses=text, system=name, pair=PAIR,
                                               testset=TEST_SPLIT)
                done, _ = wait(lambda j=job: (r := store.get_job(j.id)).status.final and r)
                assert done.status == "done", done.error
                ids[name] = job.id
                figures[f"{name}_scoring_s"] = round(done.run_seconds, 3)
                figures[f"{name}_bleu"] = done.scores["bleu"]
            intake.comparison(ids["baseline"], [ids["system"]])
            doc, waited = wait(lambda: (c := intake.comparison(ids["baseline"],
                                                               [ids["system"]]))
                               ["status"] != "pending" and c)
            assert doc["status"] == "done", doc
            figures["comparison_on_queue_s"] = doc["seconds"]  # the statistics alone
            figures["comparison_wait_s"] = round(waited, 3)  # queue, statistics, storing
            client = logged_in(create_app({"SETTINGS": settings, "TESTING": True}))
            _, waited = wait(lambda: "testing…" not in client.get("/checkpoints").get_data(
                as_text=True))  # the board's own tests (best against the other), on the queue
            figures["board_tests_wait_s"] = round(waited, 3)
        finally:
            workers.stop()
        query = f"baseline={ids['baseline']}&system={ids['system']}"
        figures["render"] = {
            view: server_time(client, url, args.repeat) for view, url in (
                ("page", f"/compare?{query}"),
                ("page_sorted_by_difference", f"/compare?{query}&sort=diff"),
                ("page_filtered", f"/compare?{query}&q=dog"),
                ("page_200_rows", f"/compare?{query}&per_page=200&page=3"),
                ("api", f"/api/v1/compare?{query}"),
                ("leaderboard", "/checkpoints"))}
    slowest = max(v["median_s"] for v in figures["render"].values())
    figures["slowest_render_over_computing"] = round(slowest / figures["comparison_on_queue_s"],
                                                     4)
    figures["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
