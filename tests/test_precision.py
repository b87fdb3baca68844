"""bf16 decoding only where the machine runs it (translator/inference/precision.py, issue 27): the
check asked once, the one-line refusal at load, in `translate --bf16` and in a worker (a failed job,
/healthz, /status). This machine's own answer is tested in test_translate.py; here the other
answer is simulated: TRANSLATOR_SIMULATE_NO_BF16 (which a worker inherits), a patched probe,
oneDNN held to AVX2 (what an AMD Zen 3 has) or a patched CUDA capability."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import time

import pytest
import torch
from helpers import PAIR, ROOT, WorkerSet, wait_for_job

from translator import Translator
from translator.cli.main import main
from translator.inference import precision
from translator.inference.precision import SIMULATE_NO_BF16, PrecisionError, bf16_unsupported_reason


@pytest.fixture(autouse=True)
def fresh_check():
    """Each test asks the check anew (it is cached per process) and leaves no answer behind."""
    bf16_unsupported_reason.cache_clear()
    yield
    bf16_unsupported_reason.cache_clear()


@pytest.fixture
def no_bf16(monkeypatch):
    monkeypatch.setenv(SIMULATE_NO_BF16, "1")


@pytest.fixture(scope="module")
def best_pt(trained_run):
    return trained_run["dir"] / "best.pt"


def assert_one_line_refusal(message: str, instead: str) -> None:
    assert "bf16 is not supported" in message and f"use {instead}" in message
    assert "\n" not in message.strip() and "primitive" not in message


def test_the_cpu_probe_runs_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(precision, "cpu_runs_bf16", lambda: calls.append(1) or False)
    for _ in range(3):
        assert_one_line_refusal(bf16_unsupported_reason("cpu"), "int8")
    assert len(calls) == 1


@pytest.mark.skipif(platform.machine() != "x86_64", reason="ONEDNN_MAX_CPU_ISA=AVX2 is x86")
def test_the_real_check_refuses_a_cpu_with_avx2_only():
    """Not simulated: oneDNN held to AVX2 has no bf16 LSTM primitive, as on a Zen 3 (the
    issue's `could not create a primitive descriptor for the LSTM forward propagation
    primitive`), and the check says so without running a model."""
    code = ("from translator.inference.precision import bf16_unsupported_reason as r; "
            "print(r('cpu'))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ONEDNN_MAX_CPU_ISA": "AVX2"}
    env.pop(SIMULATE_NO_BF16, None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    assert_one_line_refusal(out.stdout, "int8")


def test_load_refuses_bf16_before_reading_the_checkpoint(no_bf16, tmp_path, trained_translator):
    with pytest.raises(PrecisionError) as info:
        Translator.from_checkpoint(tmp_path / "not-even-there.pt", bf16=True)
    assert_one_line_refusal(str(info.value), "int8")
    assert SIMULATE_NO_BF16 in str(info.value)  # a forgotten override says so
    t = trained_translator
    with pytest.raises(PrecisionError):  # a Translator built from a model is asked too
        Translator(t.model, t.src_tok, t.tgt_tok, t.config, bf16=True)


def test_a_supporting_machine_loads_bf16(monkeypatch, best_pt):
    """The other answer, for machines without bf16: the load goes through (decoding is
    not run: it would fail in oneDNN there)."""
    monkeypatch.setattr(precision, "cpu_runs_bf16", lambda: True)
    assert Translator.from_checkpoint(best_pt, bf16=True).bf16


def test_translate_bf16_is_one_line_and_int8_still_works(no_bf16, capsys, best_pt, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("red blue cat\n")
    assert main(["translate", "--checkpoint", str(best_pt), "-i", str(src), "--bf16",
                 "--threads", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("translator: error: bf16 is not supported on this CPU")
    assert_one_line_refusal(err, "int8")
    assert "Traceback" not in err
    assert main(["translate", "--checkpoint", str(best_pt), "-i", str(src), "--int8",
                 "--threads", "1", "-q"]) == 0
    assert capsys.readouterr().out == "cat blue red\n"


@pytest.mark.parametrize("capability, refused", [((7, 5), True), ((8, 0), False)])
def test_cuda_needs_compute_capability_8(monkeypatch, capability, refused):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    reason = bf16_unsupported_reason("cuda")
    if not refused:
        assert reason is None
        return
    assert_one_line_refusal(reason, "fp32")
    assert "Tesla T4, compute capability 7.5" in reason
    with pytest.raises(PrecisionError):  # refused before any CUDA memory is touched
        Translator.from_checkpoint("unused.pt", device="cuda", bf16=True)


def test_a_worker_without_bf16_reports_its_pairs_unavailable(queue_env, trained_run,
                                                             tmp_path):
    """A real Celery worker with PRECISION=bf16 on a (simulated) CPU without bf16: it starts,
    reports the pair failed with the reason on /healthz and /status, and fails its jobs
    with that line. Its own Redis, so the session's workers and registry are untouched."""
    from web import create_app
    from worker.celery_app import make_app
    from worker.intake import Intake
    from worker.redis_server import EmbeddedRedis
    from worker.settings import Settings
    from worker.store import JobStore

    with EmbeddedRedis(tmp_path / "state") as redis_server:
        env = {**queue_env, "REDIS_URL": redis_server.url, "PRECISION": "bf16",
               "MODELS": f"{PAIR}={trained_run['dir'] / 'best.pt'}", SIMULATE_NO_BF16: "1",
               "STATE_DIR": str(tmp_path / "worker_state")}
        settings = Settings.from_env(env, dotenv=None)
        app = make_app(settings)
        workers = WorkerSet(env, tmp_path)
        workers.start("text")
        try:
            workers.wait_ready(app, names=("text",))
            web = create_app({"SETTINGS": dataclasses.replace(
                settings, secret_key="test-secret", rate_limit=""), "TESTING": True})
            client = web.test_client()
            health = wait_for_warm_up(client)
            assert health["models"] == "failed" and health["models_ready"] == []
            assert_one_line_refusal(health["models_failed"][PAIR], "int8")
            html = client.get("/status").get_data(as_text=True)
            assert "unavailable" in html and "bf16 is not supported on this CPU" in html
            store = JobStore(settings)
            job = wait_for_job(store, Intake(store, app).submit_text("red cat", PAIR)["id"])
            assert job["status"] == "failed"
            assert_one_line_refusal(job["error"], "int8")
        finally:
            workers.stop_all()


def wait_for_warm_up(client, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (health := client.get("/healthz").get_json())["models"] in ("loading", "no worker"):
        assert time.monotonic() < deadline, health
        time.sleep(0.2)
    return health
