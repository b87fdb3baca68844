"""The task-2 captions (translator/data/captions.py): downloaded from a real local HTTP server,
built by the rules (caption order, whitespace, task-1 lines, duplicates and every evaluation
line dropped), verified against the manifest, and the shipped manifest consistent with the
task-1 one and with the shared copy."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from test_download import _CountingHandler, _write_gz

from translator.data.captions import TASK2_MANIFEST, download_captions
from translator.data.download import DownloadError, load_manifest

SHARED_TASK2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k-task2"

CAPTION_FILES = {  # caption k of every image, for two images
    1: ["a dog runs", "a cat  sits "], 2: ["two birds fly", "a dog runs"],
    3: ["a test line", "a red car"], 4: ["", "a boy plays"], 5: ["a val line", "a task one line"],
}
EXPECTED = ["a dog runs", "a cat sits", "two birds fly", "a red car", "a boy plays"]


@pytest.fixture
def mirror(tmp_path):
    """The upstream layout (task2/raw, task1/raw) of tiny English files over HTTP, and its
    manifest with the build entry of EXPECTED."""
    root = tmp_path / "served"
    (root / "task2" / "raw").mkdir(parents=True)
    (root / "task1" / "raw").mkdir(parents=True)
    files = {}
    for k, lines in CAPTION_FILES.items():
        name = f"task2/raw/train.{k}.en.gz"
        files[name] = _write_gz(root / name, "\n".join(lines) + "\n")
    task1 = {"train": "a task one line\n", "val": "a val line\n",
             "test_2016_flickr": "x\n", "test_2017_flickr": "y\n",
             "test_2018_flickr": "z\n", "test_2017_mscoco": "a test line\n"}
    for split, text in task1.items():
        name = f"task1/raw/{split}.en.gz"
        files[name] = _write_gz(root / name, text)
    text = "".join(line + "\n" for line in EXPECTED)
    manifest = {"name": "test", "files": files, "build": {"train.en.gz": {
        "lines": len(EXPECTED), "text_sha256": hashlib.sha256(text.encode()).hexdigest()}}}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        type("Handler", (_CountingHandler,), {"requests": []}), directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    manifest["base_url"] = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield manifest
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_the_captions_are_built_by_the_rules(mirror, tmp_path):
    out = download_captions(tmp_path / "t2", manifest=mirror, progress=False)
    built = out / "train.en.gz"
    assert gzip.decompress(built.read_bytes()).decode().splitlines() == EXPECTED
    first = built.read_bytes()
    built.unlink()
    download_captions(out, manifest=mirror, progress=False)  # the raw files are reused
    assert built.read_bytes() == first  # reproducible, byte for byte


def test_a_build_that_does_not_match_leaves_nothing(mirror, tmp_path):
    mirror["build"]["train.en.gz"]["text_sha256"] = "0" * 64
    with pytest.raises(DownloadError, match="expected 5"):
        download_captions(tmp_path / "t2", manifest=mirror, progress=False)
    assert not [p for p in (tmp_path / "t2").iterdir() if p.name != "raw"]


def test_the_download_command_builds_the_captions(mirror, tmp_path, monkeypatch, capsys):
    """`translator download --task2 --out DIR --base-url URL`: the task-2 manifest's files
    from that mirror, the captions built; the shipped manifest against a mirror of other files
    is a clear error that leaves no built file."""
    from translator.cli.main import main
    from translator.data import captions

    url = mirror.pop("base_url")
    out = tmp_path / "t2"
    assert main(["download", "--task2", "--out", str(out), "--base-url", url]) != 0
    err = capsys.readouterr().err
    assert "checksum mismatch for train.1.en.gz" in err, err
    assert "Traceback" not in err and not (out / "train.en.gz").exists()
    manifest = tmp_path / "task2.json"
    manifest.write_text(json.dumps(mirror))
    monkeypatch.setattr(captions, "TASK2_MANIFEST", manifest)
    assert main(["download", "--task2", "--out", str(out), "--base-url", url]) == 0
    assert f"captions are in {out}" in capsys.readouterr().out
    assert gzip.decompress((out / "train.en.gz").read_bytes()).decode().splitlines() == EXPECTED


def test_the_shipped_manifest_agrees_with_task_one_and_the_shared_copy():
    task2, task1 = load_manifest(TASK2_MANIFEST), load_manifest()
    for name, entry in task2["files"].items():
        if name.startswith("task1/raw/") and Path(name).name in task1["files"]:
            assert entry == task1["files"][Path(name).name], name
    assert set(task2["build"]) == {"train.en.gz", "train.de.gz"}
    if not SHARED_TASK2.is_dir():
        pytest.skip(f"no local task-2 copy at {SHARED_TASK2}")
    for name, entry in task2["build"].items():
        text = gzip.decompress((SHARED_TASK2 / name).read_bytes())
        assert hashlib.sha256(text).hexdigest() == entry["text_sha256"]
        assert text.count(b"\n") == entry["lines"]
    assert json.loads(TASK2_MANIFEST.read_text())["base_url"].startswith("https://")
