"""Tests for translator.data.download against a real local HTTP server."""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from translator.data.download import DownloadError, download_corpus, load_manifest, verify_corpus

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"


class _CountingHandler(SimpleHTTPRequestHandler):
    """Serves a directory quietly and records every requested path."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


def _write_gz(path: Path, text: str) -> dict[str, object]:
    """Write gzip-compressed `text` to `path` and return its manifest entry."""
    data = gzip.compress(text.encode("utf-8"), mtime=0)
    path.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over a directory of small gzip files, plus their manifest."""
    root = tmp_path / "served"
    root.mkdir()
    files = {
        "train.de.gz": _write_gz(root / "train.de.gz", "Ein Hund läuft.\nZwei Katzen.\n"),
        "train.en.gz": _write_gz(root / "train.en.gz", "A dog runs.\nTwo cats.\n"),
        "val.en.gz": _write_gz(root / "val.en.gz", "A bird.\n"),
    }
    requests: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    manifest = {"name": "test", "base_url": base_url, "files": files}
    try:
        yield {"root": root, "manifest": manifest, "requests": requests, "base_url": base_url}
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".part"))


def test_download_and_verify(server, tmp_path):
    out = tmp_path / "out"
    assert verify_corpus(out, server["manifest"]) == sorted(server["manifest"]["files"])
    result = download_corpus(out, manifest=server["manifest"], progress=False)
    assert result == out
    assert verify_corpus(out, server["manifest"]) == []
    for name in server["manifest"]["files"]:
        assert (out / name).read_bytes() == (server["root"] / name).read_bytes()
    assert sorted(server["requests"]) == sorted(f"/{n}" for n in server["manifest"]["files"])
    assert _leftovers(out) == []


def test_download_subset(server, tmp_path):
    out = tmp_path / "out"
    download_corpus(out, manifest=server["manifest"], files=["val.en.gz"], progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["val.en.gz"]
    with pytest.raises(DownloadError, match="not in the manifest"):
        download_corpus(out, manifest=server["manifest"], files=["nope.gz"], progress=False)


def test_skips_file_already_correct(server, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.de.gz").write_bytes((server["root"] / "train.de.gz").read_bytes())
    download_corpus(out, manifest=server["manifest"], progress=False)
    assert "/train.de.gz" not in server["requests"]
    assert sorted(server["requests"]) == ["/train.en.gz", "/val.en.gz"]
    assert verify_corpus(out, server["manifest"]) == []


def test_replaces_corrupt_local_file(server, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "val.en.gz").write_bytes(b"corrupt")
    assert verify_corpus(out, server["manifest"]) == ["train.de.gz", "train.en.gz", "val.en.gz"]
    download_corpus(out, manifest=server["manifest"], files=["val.en.gz"], progress=False)
    assert server["requests"] == ["/val.en.gz"]
    assert verify_corpus(out, server["manifest"]) == ["train.de.gz", "train.en.gz"]


def test_checksum_mismatch_raises_and_leaves_nothing(server, tmp_path):
    out = tmp_path / "out"
    manifest = server["manifest"]
    manifest["files"]["val.en.gz"] = dict(manifest["files"]["val.en.gz"], sha256="0" * 64)
    with pytest.raises(DownloadError) as info:
        download_corpus(out, manifest=manifest, files=["val.en.gz"], progress=False)
    message = str(info.value)
    actual = hashlib.sha256((server["root"] / "val.en.gz").read_bytes()).hexdigest()
    assert "val.en.gz" in message and "0" * 64 in message and actual in message
    assert list(out.iterdir()) == []


def test_size_mismatch_raises(server, tmp_path):
    out = tmp_path / "out"
    manifest = server["manifest"]
    manifest["files"]["val.en.gz"] = dict(manifest["files"]["val.en.gz"], bytes=1)
    with pytest.raises(DownloadError, match=r"size mismatch for val\.en\.gz"):
        download_corpus(out, manifest=manifest, files=["val.en.gz"], progress=False)
    assert list(out.iterdir()) == []


def test_http_404_raises(server, tmp_path):
    out = tmp_path / "out"
    manifest = server["manifest"]
    manifest["files"]["missing.gz"] = {"sha256": "0" * 64, "bytes": 10}
    with pytest.raises(DownloadError, match=r"missing\.gz.*HTTP 404"):
        download_corpus(out, manifest=manifest, files=["missing.gz"], progress=False)
    assert list(out.iterdir()) == []


def test_connection_refused_raises(server, tmp_path):
    # Bind then close a socket to get a local port with nothing listening on it.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=r"cannot download val\.en\.gz"):
        download_corpus(
            tmp_path / "out", base_url=f"http://127.0.0.1:{port}/",
            manifest=server["manifest"], files=["val.en.gz"], timeout=5, progress=False,
        )


def test_base_url_override_without_trailing_slash(server, tmp_path):
    manifest = dict(server["manifest"], base_url="http://invalid.invalid/")
    out = download_corpus(
        tmp_path / "out", base_url=server["base_url"].rstrip("/"), manifest=manifest,
        files=["val.en.gz"], progress=False,
    )
    assert verify_corpus(out, {"files": {"val.en.gz": manifest["files"]["val.en.gz"]}}) == []


def test_load_manifest_default():
    manifest = load_manifest()
    assert manifest["base_url"].startswith("https://")
    assert len(manifest["files"]) == 12
    for entry in manifest["files"].values():
        assert len(entry["sha256"]) == 64 and entry["bytes"] > 0


def test_load_manifest_errors(tmp_path):
    with pytest.raises(DownloadError, match="not found"):
        load_manifest(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DownloadError, match="cannot read manifest"):
        load_manifest(bad)


def test_shipped_manifest_matches_shared_copy():
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"no local Multi30K copy at {SHARED_CORPUS}")
    assert verify_corpus(SHARED_CORPUS, load_manifest()) == []


def test_progress_bar_goes_to_stderr(server, tmp_path, capsys):
    download_corpus(tmp_path / "out", manifest=server["manifest"], files=["val.en.gz"])
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "val.en.gz" in captured.err


def test_only_http_urls_are_downloaded(tmp_path):
    with pytest.raises(DownloadError, match="http"):
        download_corpus(tmp_path / "out", base_url="file:///etc/")
