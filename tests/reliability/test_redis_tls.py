"""Redis over TLS (`rediss://`): a real redis-server with TLS on loopback and a certificate
authority this test makes (openssl), the real workers and the real web app talking to it; a
client that does not trust the CA is refused."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis
from helpers import PAIR, WorkerSet

from web import create_app
from worker.redis_server import free_port


def make_certificates(directory) -> dict:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "1", "-subj", "/CN=translator test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "redis.key", "-out",
            "redis.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "redis.crt", "-days", "1", "-extfile", "san.ext")
    return {"ca": directory / "ca.crt", "cert": directory / "redis.crt",
            "key": directory / "redis.key"}


@pytest.fixture
def tls_redis(tmp_path):
    assert shutil.which("openssl"), "openssl is required (Debian: apt-get install openssl)"
    certs = make_certificates(tmp_path)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port),
                             "--tls-cert-file", str(certs["cert"]), "--tls-key-file",
                             str(certs["key"]), "--tls-ca-cert-file", str(certs["ca"]),
                             "--tls-auth-clients", "no", "--requirepass", "tls-test",
                             "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"rediss://:tls-test@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={certs['ca']}"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while True:  # until the server answers over TLS
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert proc.poll() is None and time.monotonic() < deadline, "no TLS redis-server"
            time.sleep(0.05)
    yield {"url": url, "port": port}
    proc.terminate()
    proc.wait(10)


def test_workers_and_web_over_tls(tls_redis, queue_env, tmp_path):
    from worker.celery_app import make_app
    from worker.settings import Settings

    env = {**queue_env, "REDIS_URL": tls_redis["url"], "STATE_DIR": str(tmp_path / "state")}
    workers = WorkerSet(env, tmp_path)
    workers.start("text")
    try:
        settings = Settings.from_env(env, dotenv=None)
        workers.wait_ready(make_app(settings), names=("text",))
        import dataclasses

        app = create_app({"SETTINGS": dataclasses.replace(settings, secret_key="tls",
                                                          rate_limit="10/second"),
                          "TESTING": True})
        job = app.test_client().post("/api/v1/translate", json={
            "text": "red blue cat dog", "pair": PAIR, "wait": 30}).get_json()
        assert job["status"] == "done", job
        assert job["result"]["translations"] == ["dog cat blue red"]
    finally:
        workers.stop_all()
    # Without the CA, the certificate is not trusted: refused, not downgraded.
    untrusted = f"rediss://:tls-test@127.0.0.1:{tls_redis['port']}/0"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(untrusted).ping()
    with pytest.raises(redis.ConnectionError):  # and plain TCP is not spoken at all
        redis.Redis.from_url(f"redis://:tls-test@127.0.0.1:{tls_redis['port']}/0",
                             socket_timeout=2).ping()
