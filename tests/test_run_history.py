"""A run's history on the checkpoints page: one click evaluates every periodic checkpoint of a
run on the evaluation queue, and the page then draws their test BLEU over updates beside the
validation curve (real app, Redis and workers)."""

from __future__ import annotations

import shutil

from helpers import csrf_token, wait_for_job

from translator.checkpoint_file import periodic_name

PNG = b"\x89PNG\r\n\x1a\n"


def test_one_click_evaluates_a_runs_periodic_checkpoints(client, job_store, trained_run):
    run = trained_run["dir"].parent / "history_run"  # under CHECKPOINT_DIRS, like any run
    run.mkdir(exist_ok=True)
    shutil.copy(trained_run["dir"] / "metrics.jsonl", run / "metrics.jsonl")
    for step in (100, 200):  # the trained model stands in for two periodic checkpoints
        shutil.copy(trained_run["dir"] / "best.pt", run / periodic_name(step))
    try:
        assert client.get(f"/checkpoints/{run.name}/history.png").status_code == 404
        token = csrf_token(client, "/checkpoints")
        assert client.post(f"/checkpoints/{run.name}/history").status_code == 400  # no CSRF
        answer = client.post(f"/checkpoints/{run.name}/history", data={
            "csrf_token": token, "testset": "test_2016_flickr"})
        assert answer.status_code == 302
        queued = [j for j in job_store.list_jobs(0, 10)[0]
                  if j.model and j.model.startswith(f"{run.name}/step")]
        assert sorted(j.model for j in queued) == [f"{run.name}/{periodic_name(s)}"
                                                    for s in (100, 200)]
        for job in queued:
            assert wait_for_job(job_store, job.id, timeout=120)["status"] == "done"
        page = client.get("/checkpoints").get_data(as_text=True)
        assert f"/checkpoints/{run.name}/history.png" in page
        chart = client.get(f"/checkpoints/{run.name}/history.png?testset=test_2016_flickr")
        assert chart.status_code == 200 and chart.data[:8] == PNG
        assert client.post("/checkpoints/no_such_run/history",
                           data={"csrf_token": token}).status_code == 404
    finally:
        shutil.rmtree(run)


def test_a_run_without_periodic_checkpoints_says_so(client, trained_run):
    token = csrf_token(client, "/checkpoints")
    answer = client.post(f"/checkpoints/{trained_run['dir'].name}/history",
                         data={"csrf_token": token}, follow_redirects=True)
    assert answer.status_code == 200
    assert answer.get_data(as_text=True).count("has no periodic checkpoints") == 1  # shown once


def test_a_multilingual_runs_history_is_drawn_per_direction(client, job_store, trained_run,
                                                            multilingual_run):
    """Evaluations of a multilingual run's checkpoints in one direction make that direction's
    chart only: directions are never mixed in one line."""
    run = trained_run["dir"].parent / "history_multi"
    run.mkdir(exist_ok=True)
    shutil.copy(multilingual_run["dir"] / "metrics.jsonl", run / "metrics.jsonl")
    for step in (100, 200):
        shutil.copy(multilingual_run["dir"] / "best.pt", run / periodic_name(step))
    try:
        token = csrf_token(client, "/checkpoints")
        answer = client.post(f"/checkpoints/{run.name}/history", data={
            "csrf_token": token, "testset": "test_2016_flickr", "pair": "xx-yy"})
        assert answer.status_code == 302
        queued = [j for j in job_store.list_jobs(0, 10)[0]
                  if j.model and j.model.startswith(f"{run.name}/step")]
        assert len(queued) == 2
        for job in queued:
            assert wait_for_job(job_store, job.id, timeout=120)["status"] == "done"
        page = client.get("/checkpoints").get_data(as_text=True)
        assert f"/checkpoints/{run.name}/history.png?testset=test_2016_flickr&amp;pair=xx-yy" \
            in page
        assert "pair=yy-xx" not in page
        chart = client.get(f"/checkpoints/{run.name}/history.png?pair=xx-yy")
        assert chart.status_code == 200 and chart.data[:8] == PNG
        for other in ("", "?pair=yy-xx", "?pair=aa-bb"):  # no direction, unevaluated, unknown
            assert client.get(f"/checkpoints/{run.name}/history.png{other}").status_code == 404
    finally:
        shutil.rmtree(run)
