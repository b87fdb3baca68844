"""Nobody sees what is not theirs (web/access.py): jobs belong to an API key or a browser
session, every route answers 404 to anyone else, keys on every path, per-key limits, no
record for a rejected request, security headers on every response. The real app on the test
Redis and workers."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from helpers import PAIR, wait_api_job

from web import create_app

BODY = {"text": "red blue cat dog", "pair": PAIR, "wait": 30}


def app_with(queue_settings, **changes):
    settings = dataclasses.replace(queue_settings, **{"secret_key": "access", "rate_limit": "",
                                                      **changes})
    return create_app({"SETTINGS": settings, "TESTING": True})


def token_of(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def log_in(client, key: str):
    return client.post("/login", data={"csrf_token": token_of(client), "key": key})


def job_routes(job_id: str) -> list[tuple[str, str]]:
    return [("get", f"/api/v1/jobs/{job_id}"), ("get", f"/api/v1/jobs/{job_id}/result"),
            ("get", f"/api/v1/jobs/{job_id}/result.txt"),
            ("get", f"/api/v1/jobs/{job_id}/result/file"),
            ("post", f"/api/v1/jobs/{job_id}/cancel"), ("delete", f"/api/v1/jobs/{job_id}")]


@pytest.fixture
def keyed(queue_settings, workers):
    return app_with(queue_settings, api_keys="k1,k2", admin_keys="boss")


def test_each_key_sees_only_its_own_jobs_and_the_admin_all(keyed):
    client = keyed.test_client()
    mine = client.post("/api/v1/documents", json={"text": "red blue cat dog\n", "pair": PAIR,
                                                  "filename": "a.md"},
                       headers={"X-API-Key": "k1"}).get_json()
    assert wait_api_job_with(client, mine["id"], "k1")["status"] == "done"
    other = client.post("/api/v1/translate", json=BODY, headers={"X-API-Key": "k2"})
    assert other.status_code == 200
    for method, path in job_routes(mine["id"]):
        answer = getattr(client, method)(path, headers={"X-API-Key": "k2"})
        assert answer.status_code == 404, (method, path, answer.status_code)
        assert "no job" in answer.get_json()["error"]
    assert client.get(f"/api/v1/jobs/{mine['id']}/result/file",
                      headers={"X-API-Key": "k1"}).status_code == 200
    listed = {j["id"] for j in client.get("/api/v1/jobs", headers={"X-API-Key": "k2"}
                                          ).get_json()["jobs"]}
    assert listed == {other.get_json()["id"]}
    everyone = {j["id"] for j in client.get("/api/v1/jobs?limit=100",
                                            headers={"X-API-Key": "boss"}).get_json()["jobs"]}
    assert {mine["id"], other.get_json()["id"]} <= everyone
    assert client.get(f"/api/v1/jobs/{mine['id']}", headers={"X-API-Key": "boss"}
                      ).status_code == 200
    # The record names its owner by a hash, never by the key.
    record = client.get(f"/api/v1/jobs/{mine['id']}", headers={"X-API-Key": "k1"}).get_json()
    assert record["owner"].startswith("key:") and "k1" not in record["owner"]


def wait_api_job_with(client, job_id: str, key: str) -> dict:
    import time

    for _ in range(600):
        job = client.get(f"/api/v1/jobs/{job_id}", headers={"X-API-Key": key}).get_json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(job)


def test_a_csrf_token_is_never_a_key_and_the_pages_ask_for_one(keyed):
    client = keyed.test_client()
    page = client.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert client.get("/status").status_code == 200  # open
    token = token_of(client)
    assert client.post("/api/v1/translate", json=BODY,
                       headers={"X-CSRFToken": token}).status_code == 403
    assert log_in(client, "nope").status_code == 403
    assert log_in(client, "k1").status_code == 302
    # Logged in: the pages' script calls the API with the session and its CSRF token.
    token = token_of(client, "/")
    made = client.post("/api/v1/translate", json=BODY, headers={"X-CSRFToken": token})
    assert made.status_code == 200
    assert made.get_json()["owner"] == client.get(
        "/api/v1/jobs", headers={"X-API-Key": "k1"}).get_json()["jobs"][0]["owner"]
    # ... but not without the token (another site cannot use the session).
    assert client.post("/api/v1/translate", json=BODY).status_code == 403
    # Another browser logged in with the other key sees none of it.
    second = keyed.test_client()
    log_in(second, "k2")
    assert second.get(f"/jobs/{made.get_json()['id']}").status_code == 404
    assert made.get_json()["id"] not in second.get("/jobs").get_data(as_text=True)
    assert made.get_json()["id"][:8] in client.get("/jobs").get_data(as_text=True)
    # A wrong key given beside the logged-in session is refused, not the session's.
    assert client.post("/api/v1/translate?api_key=bogus", json=BODY).status_code == 403
    assert client.post("/api/v1/translate", json={**BODY, "api_key": "\ud800"}
                       ).status_code == 403  # a lone surrogate: refused, not a 500
    for evil in ("//evil.example", "/%09/evil.example", "/\\evil.example", "/%0a/x"):
        answer = client.post(f"/login?next={evil}",
                             data={"csrf_token": token_of(client), "key": "k1"})
        assert answer.status_code == 302 and "evil" not in answer.headers["Location"], evil


def test_libretranslate_needs_a_key_and_keeps_jobs_apart(keyed):
    client = keyed.test_client()
    libre = {"q": "red blue cat", "source": "xx", "target": "yy"}
    assert client.post("/translate", json=libre).status_code == 403
    assert client.post("/translate", json={**libre, "api_key": "k1"}).status_code == 200
    assert client.post("/detect", json={"q": "Hallo Welt", "api_key": "bad"}).status_code == 403


def test_without_keys_the_id_is_the_capability_and_lists_are_per_browser(client, web_app):
    made = client.post("/api/v1/translate", json=BODY).get_json()
    stranger = web_app.test_client()
    assert stranger.get(f"/api/v1/jobs/{made['id']}").status_code == 200  # the id suffices
    assert made["id"] not in {j["id"] for j in stranger.get("/api/v1/jobs").get_json()["jobs"]}
    assert made["id"] in {j["id"] for j in client.get("/api/v1/jobs").get_json()["jobs"]}


def test_odd_numbers_and_characters_are_4xx_not_500(client):
    libre = {"q": "red", "source": "xx", "target": "yy"}
    assert client.post("/translate", data='{"q": "red", "source": "xx", "target": "yy", '
                       '"alternatives": 1e400}', content_type="application/json"
                       ).status_code == 400
    assert client.post("/api/v1/translate", data='{"text": "red", "pair": "xx-yy", "wait": '
                       + "9" * 400 + "}", content_type="application/json").status_code == 422
    assert client.post("/detect", json={"q": "\ud800 abc"}).status_code == 400
    assert client.post("/translate", json={**libre, "q": "\ud800", "source": "auto"}
                       ).status_code == 400


def test_a_rejected_request_leaves_no_record(client, job_store):
    before = job_store.redis.zcard("nmt:jobs")
    for body in ({"text": "", "pair": PAIR}, {"text": "red", "pair": "xx-zz"},
                 {"text": "red", "pair": PAIR, "beam_size": 99}):
        answer = client.post("/api/v1/translate", json=body)
        assert answer.status_code == 422 and "job_id" not in answer.get_json()
    binary = client.post("/api/v1/documents", data={"pair": PAIR, "file": (
        io.BytesIO(b"\x00\x01\x02binary"), "x.txt")}, content_type="multipart/form-data")
    assert binary.status_code == 422
    assert job_store.redis.zcard("nmt:jobs") == before


def test_per_key_limits_answer_429(queue_settings, workers):
    app = app_with(queue_settings, api_keys="k1,k2", key_rate_limit="2/minute",
                   key_daily_chars=40)
    client = app.test_client()
    k1 = {"X-API-Key": "k1"}
    assert client.post("/api/v1/translate", json={**BODY, "wait": 0}, headers=k1
                       ).status_code == 202
    assert client.post("/api/v1/translate", json={**BODY, "wait": 0}, headers=k1
                       ).status_code == 202
    third = client.post("/api/v1/translate", json={**BODY, "wait": 0}, headers=k1)
    assert third.status_code == 429 and "too many requests" in third.get_json()["error"]
    # k2 has its own count; its characters per day run out on the second request.
    k2 = {"X-API-Key": "k2"}
    text = {"text": "red blue cat dog sun moon", "pair": PAIR}  # 25 characters, 40 a day
    assert client.post("/api/v1/translate", json=text, headers=k2).status_code == 202
    over = client.post("/api/v1/translate", json=text, headers=k2)
    assert over.status_code == 429 and "characters today" in over.get_json()["error"]


def test_the_open_web_form_has_its_own_limits(queue_settings, workers):
    app = app_with(queue_settings, api_keys="k1", open_web_form=True, form_max_chars=10,
                   form_rate_limit="2/minute")
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200  # no key asked
    html = page.get_data(as_text=True)  # the form shows and enforces the form's limit
    assert 'maxlength="10"' in html and "Up to 10 characters" in html
    assert "and 10 characters (without an API key)" in client.get("/documents").get_data(
        as_text=True)
    token = token_of(client, "/")
    small = client.post("/api/v1/translate", json={**BODY, "text": "red cat", "wait": 0},
                        headers={"X-CSRFToken": token})
    assert small.status_code == 202
    big = client.post("/api/v1/translate", json={**BODY, "wait": 0},
                      headers={"X-CSRFToken": token})
    assert big.status_code == 413 and "accepts 10" in big.get_json()["error"]
    third = client.post("/api/v1/translate", json={**BODY, "text": "red", "wait": 0},
                        headers={"X-CSRFToken": token})
    assert third.status_code == 429
    # A key holder is not held to the form's limits.
    keyed = client.post("/api/v1/translate", json={**BODY, "wait": 0},
                        headers={"X-API-Key": "k1"})
    assert keyed.status_code == 202


def test_uploaded_evaluations_are_private_named_ones_public(keyed):
    client = keyed.test_client()
    checkpoints = client.get("/api/v1/models", headers={"X-API-Key": "k1"}
                             ).get_json()["checkpoints"]
    name = next(c for c in checkpoints if c.startswith(PAIR))
    named = client.post("/api/v1/evaluations", json={"checkpoint": name,
                                                     "testset": "test_2016_flickr"},
                        headers={"X-API-Key": "k1"}).get_json()
    upload = client.post("/api/v1/evaluations", json={
        "checkpoint": name, "source": "red cat\n", "reference": "cat red\n"},
        headers={"X-API-Key": "k1"}).get_json()
    assert client.get(f"/api/v1/jobs/{named['id']}", headers={"X-API-Key": "k2"}
                      ).status_code == 200
    assert client.get(f"/api/v1/jobs/{upload['id']}", headers={"X-API-Key": "k2"}
                      ).status_code == 404
    # visible to all, cancelled only by its owner (or an admin)
    assert client.post(f"/api/v1/jobs/{named['id']}/cancel", headers={"X-API-Key": "k2"}
                       ).status_code == 404


HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "X-Frame-Options": "DENY"}


def test_security_headers_on_every_kind_of_response(client):
    job = client.post("/api/v1/documents", json={"text": "red cat dog\n", "pair": PAIR,
                                                 "filename": "a.md"}).get_json()
    wait_api_job(client, job["id"])
    for path in ("/", "/api/v1/jobs", f"/api/v1/jobs/{job['id']}/result/file",
                 f"/jobs/{job['id']}/download", "/api/v1/jobs/" + "0" * 32, "/jobs/nothing",
                 "/static/app.js", "/languages"):
        answer = client.get(path)
        for name, value in HEADERS.items():
            assert value in answer.headers.get(name, ""), (path, name, answer.headers)
        assert "Strict-Transport-Security" not in answer.headers  # plain HTTP by default
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    cookie = client.application.test_client().get("/").headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_behind_a_proxy_limits_count_clients_not_the_proxy(queue_settings, workers):
    app = app_with(queue_settings, rate_limit="1/minute", proxy_hops=1)
    client = app.test_client()
    for address in ("203.0.113.1", "203.0.113.2"):  # one request each: both allowed
        answer = client.post("/api/v1/translate", json={**BODY, "wait": 0},
                             headers={"X-Forwarded-For": address})
        assert answer.status_code == 202, address
    again = client.post("/api/v1/translate", json={**BODY, "wait": 0},
                        headers={"X-Forwarded-For": "203.0.113.1"})
    assert again.status_code == 429


def test_tls_turns_on_hsts_and_secure_cookies(queue_settings, workers):
    client = app_with(queue_settings, tls=True).test_client()
    answer = client.get("/", base_url="https://localhost")
    assert "max-age" in answer.headers["Strict-Transport-Security"]
    assert "Secure" in answer.headers["Set-Cookie"]
    # the TLS proxy redirects; health checks reach the app over plain HTTP
    assert client.get("/healthz", base_url="http://localhost").status_code == 200


def test_a_logged_in_browser_can_log_out(keyed):
    """The pages offer a "Log out" button once a key is given; it ends the session's login,
    and the pages ask for a key again."""
    client = keyed.test_client()
    assert log_in(client, "k1").status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert 'action="/logout"' in page and "Log out" in page
    answer = client.post("/logout", data={"csrf_token": token_of(client, "/")})
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    again = client.get("/")
    assert again.status_code == 302 and "/login" in again.headers["Location"]
    status = client.get("/status").get_data(as_text=True)
    assert "Log out" not in status and 'href="/login?next=/status"' in status
