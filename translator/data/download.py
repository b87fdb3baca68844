"""Download and verify the Multi30K corpus described by `data/multi30k.json`.

Each file is streamed to a temporary file next to its destination while its SHA-256 is
computed, checked against the manifest (hash and size), and only then renamed into place,
so an interrupted or corrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tqdm import tqdm

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "data" / "multi30k.json"
CHUNK_SIZE = 1 << 16


class DownloadError(RuntimeError):
    """A corpus file could not be downloaded or did not match its manifest entry."""


def load_manifest(path: str | Path | None = None) -> dict[str, Any]:
    """Read a corpus manifest (default: the repository's `data/multi30k.json`)."""
    path = Path(path) if path is not None else MANIFEST_PATH
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DownloadError(f"manifest not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise DownloadError(f"manifest {path} has no 'files' mapping")
    return manifest


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_valid(path: Path, entry: dict[str, Any]) -> bool:
    """True if `path` exists and its SHA-256 matches the manifest entry."""
    return path.is_file() and sha256_file(path) == entry["sha256"]


def _select(manifest: dict[str, Any], files: list[str] | None) -> dict[str, dict[str, Any]]:
    """The manifest entries to fetch: all of them, or the named subset."""
    if files is None:
        return dict(manifest["files"])
    unknown = sorted(set(files) - set(manifest["files"]))
    if unknown:
        raise DownloadError(
            f"file(s) not in the manifest: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(manifest['files']))})"
        )
    return {name: manifest["files"][name] for name in files}


def _stream(url: str, dest, size: int | None, name: str, timeout: float, progress: bool) -> str:
    """Copy `url` into the open binary file `dest`; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    # noqa below: the manifest's or the operator's --base-url, checked to be http(s) above
    with urllib.request.urlopen(url, timeout=timeout) as response, tqdm(  # noqa: S310
        total=size, unit="B", unit_scale=True, desc=name, file=sys.stderr,
        disable=not progress, leave=False,
    ) as bar:
        for chunk in iter(lambda: response.read(CHUNK_SIZE), b""):
            digest.update(chunk)
            dest.write(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _download_one(
    url: str, target: Path, entry: dict[str, Any], timeout: float, progress: bool
) -> None:
    """Download one file to a temporary name, verify it, and rename it to `target`."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dest:
            actual = _stream(url, dest, entry.get("bytes"), target.name, timeout, progress)
        _check(target.name, entry, actual, tmp.stat().st_size)
        os.replace(tmp, target)
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        raise DownloadError(f"cannot download {target.name} from {url}: {reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot download {target.name} from {url}: {exc.reason}") from None
    except TimeoutError as exc:
        raise DownloadError(f"timed out downloading {target.name} from {url}: {exc}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise DownloadError(f"error while downloading {target.name} from {url}: {reason}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _check(name: str, entry: dict[str, Any], actual_sha: str, actual_size: int) -> None:
    """Raise DownloadError if a downloaded file's hash or size differs from the manifest."""
    if actual_sha != entry["sha256"]:
        raise DownloadError(
            f"checksum mismatch for {name}: expected sha256 {entry['sha256']}, got {actual_sha}"
        )
    expected_size = entry.get("bytes")
    if expected_size is not None and actual_size != expected_size:
        raise DownloadError(
            f"size mismatch for {name}: expected {expected_size} bytes, got {actual_size}"
        )


def download_corpus(
    out_dir: str | Path,
    base_url: str | None = None,
    manifest: dict[str, Any] | None = None,
    files: list[str] | None = None,
    timeout: float = 60,
    progress: bool = True,
) -> Path:
    """Download the manifest's files (or the subset `files`) into `out_dir`; return it.

    Files already present with the right SHA-256 are skipped. Any network failure or
    hash/size mismatch raises `DownloadError` and leaves no partial file behind.
    """
    manifest = manifest if manifest is not None else load_manifest()
    base_url = base_url or manifest["base_url"]
    if not base_url.lower().startswith(("https://", "http://")):
        raise DownloadError(f"the download URL must be http(s), not {base_url[:80]!r}")
    if not base_url.endswith("/"):
        base_url += "/"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, entry in _select(manifest, files).items():
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)  # (names may have folders)
        if _is_valid(target, entry):
            continue
        _download_one(base_url + name, target, entry, timeout, progress)
    return out_dir


def verify_corpus(dir: str | Path, manifest: dict[str, Any] | None = None) -> list[str]:
    """Return the names of manifest files missing from `dir` or whose SHA-256 differs."""
    manifest = manifest if manifest is not None else load_manifest()
    root = Path(dir)
    return [name for name, entry in sorted(manifest["files"].items())
            if not _is_valid(root / name, entry)]
