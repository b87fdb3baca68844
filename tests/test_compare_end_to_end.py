"""The evaluation workbench end to end, on the suite's real Redis and Celery workers: two
uploaded systems on the test split, compared through the API (pending, then done), the page,
its exports and charts, and opened from the leaderboard with one click; someone else's
private evaluation cannot be compared (404). The view logic itself, without Redis, is in
tests/test_compare_web.py."""

from __future__ import annotations

import dataclasses
import html as html_lib
import re
import time

from helpers import SRC, TGT, wait_api_job

from web import create_app

PNG = b"\x89PNG\r\n\x1a\n"


def upload_system(client, name: str, hypotheses: list[str], headers=None) -> str:
    answer = client.post("/api/v1/evaluations", json={
        "system": name, "hypotheses": "\n".join(hypotheses) + "\n",
        "testset": "test_2016_flickr", "pair": f"{SRC}-{TGT}"}, headers=headers or {})
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["id"]


def wait_done(client, path: str, headers=None, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(path, headers=headers or {})
        body = answer.get_json()
        if answer.status_code != 202:
            return body | {"http": answer.status_code}
        assert time.monotonic() < deadline, f"{path} still pending"
        time.sleep(0.5)


def systems(reverse_corpus) -> tuple[list[str], list[str]]:
    """Two systems on the test split: the references with one word changed every other line,
    and with the last word dropped on every line."""
    refs = (reverse_corpus / f"test_2016_flickr.{TGT}").read_text().splitlines()
    a = [" ".join(["dog", *r.split()[1:]]) if i % 2 else r for i, r in enumerate(refs)]
    b = [" ".join(r.split()[:-1]) for r in refs]
    return a, b


def test_two_uploaded_systems_compared_end_to_end(client, reverse_corpus):
    a, b = systems(reverse_corpus)
    ids = [upload_system(client, "half <b>right</b>", a), upload_system(client, "short", b)]
    for job_id in ids:
        assert wait_api_job(client, job_id, timeout=120)["status"] == "done"
    path = f"/api/v1/compare?baseline={ids[0]}&system={ids[1]}"
    first = client.get(path)
    assert first.status_code in (200, 202)
    body = wait_done(client, path)
    assert body["http"] == 200 and body["status"] == "done"
    assert body["names"] == ["half <b>right</b>", "short"] and body["total"] == len(a)
    assert body["matching"] == len(a) and len(body["segments"]) == min(50, len(a))
    assert body["summary"][1]["bleu"]["p_value"] is not None
    falling = wait_done(client, path + "&sort=-diff&per_page=5")["segments"]
    assert [s["diff"] for s in falling] == sorted((s["diff"] for s in falling), reverse=True)
    page = client.get(f"/compare?baseline={ids[0]}&system={ids[1]}&q=dog")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "half &lt;b&gt;right&lt;/b&gt;" in html
    assert "<b>right</b>" not in html and "segments contain every word" in html
    tex = client.get(f"/compare/export.tex?baseline={ids[0]}&system={ids[1]}")
    assert tex.status_code == 200 and r"\toprule" in tex.get_data(as_text=True)
    chart = client.get(f"/compare/chart/word_f_by_frequency.png?baseline={ids[0]}"
                       f"&system={ids[1]}")
    assert chart.status_code == 200 and chart.data[:8] == PNG
    # the leaderboard: both rows on one board (with whatever else other tests put on the
    # test set's board), tested on the queue, compared with one click once one is the baseline
    board = wait_page(client, f"/checkpoints?baseline={ids[0]}")
    link = re.search(rf'href="(/compare\?baseline={ids[0]}&amp;system={ids[1]})"', board)
    assert link and "p = " in board and "± " in board
    assert wait_page(client, html_lib.unescape(link.group(1)), status=200)
    chosen = wait_page(client, f"/checkpoints?baseline={ids[1]}")
    assert f"/compare?baseline={ids[1]}&amp;system={ids[0]}" in chosen


def wait_page(client, path: str, status: int = 200, timeout: float = 180) -> str:
    """The page once nothing on it is being computed (no "testing…", not 202)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(path)
        html = answer.get_data(as_text=True)
        if answer.status_code != 202 and "testing…" not in html:
            assert answer.status_code == status, (path, answer.status_code)
            return html
        assert time.monotonic() < deadline, f"{path} still being computed"
        time.sleep(0.5)


def test_someone_elses_private_evaluation_cannot_be_compared(queue_settings, workers,
                                                             reverse_corpus):
    settings = dataclasses.replace(queue_settings, secret_key="compare", rate_limit="",
                                   api_keys="k1,k2", private_evaluations=True)
    client = create_app({"SETTINGS": settings, "TESTING": True}).test_client()
    a, b = systems(reverse_corpus)
    k1, k2 = {"X-API-Key": "k1"}, {"X-API-Key": "k2"}
    mine = upload_system(client, "mine", a, headers=k1)
    theirs = upload_system(client, "theirs", b, headers=k2)
    for job_id, key in ((mine, k1), (theirs, k2)):
        deadline = time.monotonic() + 120
        while client.get(f"/api/v1/jobs/{job_id}", headers=key).get_json()["status"] not in (
                "done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.3)
    for path in (f"/api/v1/compare?baseline={mine}&system={theirs}",
                 f"/api/v1/compare?baseline={theirs}&system={mine}",
                 f"/compare/export.csv?baseline={mine}&system={theirs}&api_key=k1",
                 f"/compare?baseline={mine}&system={theirs}&api_key=k1"):
        assert client.get(path, headers=k1).status_code == 404, path
    assert client.get(f"/api/v1/compare?baseline={mine}&system={theirs}",
                      headers={"X-API-Key": "boss"}).status_code == 403
