"""docker-compose.yml and the Dockerfile agree with the code: real entry points, real settings,
queues that the workers' code would consume, and documented compose variables."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from worker.celery_app import worker_queues
from worker.settings import Settings, settings_table

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS = {name for name, _, _ in settings_table()}
APP_SERVICES = {k: v for k, v in COMPOSE["services"].items() if v.get("build") == "."}


def expand(value: str) -> str:
    """Compose's ${VAR:-default} with the default (${VAR:?msg} -> a placeholder)."""
    value = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))
    return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "x", value)


def env_of(service: dict) -> dict[str, str]:
    return {k: expand(v) for k, v in (service.get("environment") or {}).items()}


def test_services_and_redis_persistence():
    assert {"redis", "web", "flower"} <= set(COMPOSE["services"])
    assert any(name.startswith("worker-") for name in COMPOSE["services"])
    redis = COMPOSE["services"]["redis"]
    assert redis["image"].startswith("redis:")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_every_environment_variable_is_a_real_setting():
    for name, service in APP_SERVICES.items():
        unknown = set(service.get("environment") or {}) - SETTINGS
        assert not unknown, f"{name} sets variables the code does not read: {unknown}"
        Settings.from_env(env_of(service), dotenv=None).check()  # and valid values


def test_models_are_mounted_read_only_and_no_data_is_baked_in():
    for service in APP_SERVICES.values():
        assert "./models:/models:ro" in service["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"COPY .*(runs|\.pt|multi30k/)", dockerfile)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"runs", "data/multi30k", "*.pt"} <= set(ignored)


def test_worker_commands_consume_the_queues_the_code_routes_to():
    workers = {k: v for k, v in APP_SERVICES.items() if k.startswith("worker-")}
    assert workers
    for name, service in workers.items():
        cmd = [expand(c) for c in service["command"]]
        assert cmd[:4] == ["celery", "-A", "worker.celery_app", "worker"]
        importlib.import_module(cmd[2])
        pool = cmd[cmd.index("-P") + 1]
        kind = {"threads": "text", "prefork": "docs"}[pool]
        settings = Settings.from_env(env_of(service), dotenv=None)
        assert cmd[cmd.index("-Q") + 1].split(",") == worker_queues(settings, kind), name
        assert int(cmd[cmd.index("-c") + 1]) >= 1


def test_web_and_flower_commands_are_real_entry_points():
    web = [expand(c) for c in APP_SERVICES["web"]["command"]]
    assert web[0] == "gunicorn"
    module, _, factory = web[-1].partition(":")
    assert callable(getattr(importlib.import_module(module), factory.removesuffix("()")))
    defaults = Settings.from_env({}, dotenv=None)
    assert web[web.index("--workers") + 1] == str(defaults.web_workers)
    assert web[web.index("--threads") + 1] == str(defaults.web_threads)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f'"--workers", "{defaults.web_workers}", "--threads", "{defaults.web_threads}"' \
        in dockerfile
    health = " ".join(APP_SERVICES["web"]["healthcheck"]["test"])
    assert "/healthz" in health
    flower = APP_SERVICES["flower"]["command"]
    assert flower[:4] == ["celery", "-A", "worker.celery_app", "flower"]


def test_compose_only_variables_are_documented():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    doc = (ROOT / "docs" / "deployment.md").read_text()
    undocumented = {v for v in used - SETTINGS if f"`{v}`" not in doc}
    assert not undocumented, f"compose variables missing from docs/deployment.md: {undocumented}"


def test_docker_compose_config_validates():
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is required (Debian: apt-get install docker-compose)"
    out = subprocess.run([binary, "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x",
                              "REDIS_PASSWORD": "p4ss"}, timeout=60)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("var", ["SECRET_KEY", "REDIS_PASSWORD"])
def test_compose_requires_a_shared_secret(var):
    binary = shutil.which("docker-compose")
    given = {"SECRET_KEY": "x", "REDIS_PASSWORD": "p4ss"}
    given.pop(var)
    out = subprocess.run([binary, "config", "-q"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", **given}, timeout=60)
    assert out.returncode != 0 and var in out.stderr


def test_every_service_reaches_redis_with_the_password():
    """An open Redis is anyone's on its network: the broker requires the password and every
    service's REDIS_URL carries it (checked on the configuration compose renders)."""
    binary = shutil.which("docker-compose")
    out = subprocess.run([binary, "config"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "x",
                              "REDIS_PASSWORD": "p4ss"}, timeout=60)
    rendered = yaml.safe_load(out.stdout)
    assert "p4ss" in rendered["services"]["redis"]["command"]
    for name, service in rendered["services"].items():
        if name != "redis":
            assert service["environment"]["REDIS_URL"].startswith("redis://:p4ss@redis:"), name
