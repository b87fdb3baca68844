"""The checkpoints page's form (real app, Redis and workers): an ensemble of listed
checkpoints composed by name, and a wrong one refused with the reason."""

from __future__ import annotations

from helpers import csrf_token, wait_for_job


def test_an_ensemble_is_evaluated_from_the_form(client, job_store, trained_run):
    name = f"{trained_run['dir'].name}/best.pt"
    token = csrf_token(client, "/checkpoints")
    answer = client.post("/checkpoints", data={
        "csrf_token": token, "checkpoint": name, "ensemble": f"{name} + {name}",
        "testset": "test_2016_flickr", "beam_size": 2})
    assert answer.status_code == 302, answer.get_data(as_text=True)[-500:]
    job_id = answer.headers["Location"].rsplit("/", 1)[1]
    record = wait_for_job(job_store, job_id, timeout=180)
    assert record["status"] == "done" and record["model"] == f"{name} + {name}"
    assert record["scores"]["bleu"] > 90  # the model with itself: the model's translations
    wrong = client.post("/checkpoints", data={
        "csrf_token": token, "checkpoint": name, "ensemble": f"{name}+/etc/passwd",
        "testset": "test_2016_flickr", "beam_size": 2})
    assert wrong.status_code == 422 and "unknown checkpoint" in wrong.get_data(as_text=True)
