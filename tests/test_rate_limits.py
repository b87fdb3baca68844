"""RATE_LIMIT's default follows how the server is started (Settings.job_rate_limit): none for a
private `translator serve` on loopback, PUBLIC_RATE_LIMIT wherever others may reach it; an
explicit value wins; a 429 says when to try again and what else to do, in both APIs."""

from __future__ import annotations

import pytest
from helpers import PAIR, SRC, TGT
from test_deploy import APP_SERVICES, env_of

from web import create_app
from worker.serve import web_env
from worker.settings import PUBLIC_RATE_LIMIT, Settings, SettingsError

LOOPBACK = {"WEB_HOST": "127.0.0.1"}  # what `translator serve` (and `make run`) passes by default
EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (a bind address the rule reads; nothing binds here)

# Each setting that turns the limit on for a server that would otherwise be private, with what
# the reason names.
PUBLIC = {
    "gunicorn of someone else (no WEB_HOST)": ({"WEB_HOST": ""}, "WEB_HOST unset"),
    "bound to every address": ({"WEB_HOST": EVERY_ADDRESS}, f"bound to {EVERY_ADDRESS}"),
    "bound to a LAN address": ({"WEB_HOST": "192.168.1.20"}, "bound to 192.168.1.20"),
    "behind a proxy": ({**LOOPBACK, "PROXY_HOPS": "1"}, "PROXY_HOPS=1"),
    "served over TLS": ({**LOOPBACK, "TLS": "1"}, "TLS=1"),
    "API keys": ({**LOOPBACK, "API_KEYS": "k1"}, "API keys"),
    "admin keys": ({**LOOPBACK, "ADMIN_KEYS": "a1"}, "API keys"),
}


def job_rate_limit(env: dict):
    return Settings.from_env(env, dotenv=None).job_rate_limit()


# ------------------------------------------------------------------ the rule (worker/settings.py)
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_a_loopback_server_has_no_limit_by_default(host):
    limit = job_rate_limit({"WEB_HOST": host})
    assert limit.limit == "" and "private server" in limit.why
    assert limit.describe().startswith("no rate limit")


@pytest.mark.parametrize("env, reason", PUBLIC.values(), ids=PUBLIC.keys())
def test_each_sign_of_a_reachable_server_turns_the_default_limit_on(env, reason):
    limit = job_rate_limit(env)
    assert limit.limit == PUBLIC_RATE_LIMIT and reason in limit.why
    assert limit.describe().startswith(f"rate limit {PUBLIC_RATE_LIMIT}")


def test_an_explicit_rate_limit_wins_both_ways():
    assert job_rate_limit({**LOOPBACK, "RATE_LIMIT": "10/minute"}).limit == "10/minute"
    for off in ("none", "NONE", ""):
        assert job_rate_limit({"WEB_HOST": EVERY_ADDRESS, "RATE_LIMIT": off}).limit == ""
    assert Settings.from_env({}, dotenv=None).rate_limit == "auto"


@pytest.mark.parametrize("env", [{"RATE_LIMIT": "60/minit"}, {"RATE_LIMIT": "often"},
                                 {"KEY_RATE_LIMIT": "5 a day"}, {"FORM_RATE_LIMIT": "x"}])
def test_a_malformed_limit_is_a_clear_error(env):
    with pytest.raises(SettingsError, match="is not a rate limit"):
        Settings.from_env(env, dotenv=None)


def test_serve_tells_its_web_app_where_it_binds():
    assert job_rate_limit(web_env({}, "127.0.0.1")).limit == ""
    assert job_rate_limit(web_env({"TLS": "1"}, "127.0.0.1")).limit == PUBLIC_RATE_LIMIT
    assert job_rate_limit(web_env({}, EVERY_ADDRESS)).limit == PUBLIC_RATE_LIMIT
    # WEB_HOST left over in the environment or a .env does not outvote serve's --host
    assert job_rate_limit(web_env(LOOPBACK, EVERY_ADDRESS)).limit \
        == PUBLIC_RATE_LIMIT


def test_compose_keeps_the_limit_on():
    limit = job_rate_limit(env_of(APP_SERVICES["web"]))
    assert limit.limit == PUBLIC_RATE_LIMIT and f"bound to {EVERY_ADDRESS}" in limit.why


# ------------------------------------------------------------------ the real app
def app_for(queue_env: dict, env: dict):
    settings = Settings.from_env({**queue_env, "SECRET_KEY": "limits", **env}, dotenv=None)
    return create_app({"SETTINGS": settings, "TESTING": True})


def refused_cheaply(client, n: int, address: str, **body) -> list[int]:
    """n LibreTranslate requests without `q`: each is counted by the limiter, then answered
    400 without a job (so the workers get none)."""
    return [client.post("/translate", json=body, environ_base={"REMOTE_ADDR": address},
                        headers={"X-Forwarded-For": address}).status_code for _ in range(n)]


def test_a_batch_of_67_passes_a_private_loopback_server(queue_env, workers):
    """Issue 27: `make run`, then 67 LibreTranslate requests from the same machine."""
    client = app_for(queue_env, LOOPBACK).test_client()
    answers = [client.post("/translate", json={"q": "red blue cat", "source": SRC,
                                               "target": TGT},
                           environ_base={"REMOTE_ADDR": "127.0.0.1"}) for _ in range(67)]
    assert [a.status_code for a in answers] == [200] * 67
    assert {a.get_json()["translatedText"] for a in answers} == {"cat blue red"}


@pytest.mark.parametrize("number, env", [(n, env) for n, (env, _) in enumerate(PUBLIC.values())],
                         ids=PUBLIC.keys())
def test_the_61st_request_in_a_minute_is_refused_where_others_may_reach_the_app(
        queue_env, number, env):
    client = app_for(queue_env, env).test_client()
    address = f"10.27.5.{number}"  # one per case: the counters live in the session's Redis
    key = env.get("API_KEYS") or env.get("ADMIN_KEYS")
    statuses = refused_cheaply(client, 61, address, **({"api_key": key} if key else {}))
    assert statuses[:60] == [400] * 60 and statuses[60] == 429


def test_a_429_says_when_to_try_again_and_what_else_to_do_in_both_apis(queue_env):
    client = app_for(queue_env, {"WEB_HOST": EVERY_ADDRESS}).test_client()
    address = "10.27.6.1"
    assert refused_cheaply(client, 60, address) == [400] * 60
    libre = client.post("/translate", json={"q": "red", "source": SRC, "target": TGT},
                        environ_base={"REMOTE_ADDR": address})
    api = client.post("/api/v1/translate", json={"text": "red", "pair": PAIR},
                      environ_base={"REMOTE_ADDR": address})
    for answer in (libre, api):
        body = answer.get_json()
        assert answer.status_code == 429 and body["status"] == 429
        assert 1 <= body["retry_after"] <= 61  # the minute's window, rounded up
        assert abs(body["retry_after"] - int(answer.headers["Retry-After"])) <= 1
        assert body["error"].startswith(f"too many requests: try again in {body['retry_after']} s")
        assert "limited to 60 per 1 minute (RATE_LIMIT)" in body["error"]
        assert "set RATE_LIMIT=none" in body["error"]


def test_queueing_a_comparison_counts_as_a_job_request(queue_env, intake, job_store):
    """The workbench's GETs queue comparisons on the evaluation queue: each one queued counts
    against RATE_LIMIT like a job; asking again for one already queued costs nothing."""
    from helpers import wait_for_job

    ids = [intake.submit_evaluation(hypotheses=h, system=h, reference="a b c\n").id
           for h in ("a b c\n", "a b\n", "b c\n")]
    for job_id in ids:
        assert wait_for_job(job_store, job_id, timeout=120)["status"] == "done"
    client = app_for(queue_env, {**LOOPBACK, "RATE_LIMIT": "2/minute"}).test_client()

    def ask(baseline: str, system: str) -> int:
        return client.get(f"/api/v1/compare?baseline={baseline}&system={system}",
                          environ_base={"REMOTE_ADDR": "10.29.0.1"}).status_code

    assert ask(ids[0], ids[1]) in (200, 202)  # queued: 1 of 2
    assert ask(ids[0], ids[1]) in (200, 202)  # already queued or done: free
    assert ask(ids[0], ids[2]) in (200, 202)  # queued: 2 of 2
    assert ask(ids[1], ids[2]) == 429
