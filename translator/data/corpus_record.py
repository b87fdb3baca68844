"""What a checkpoint records of the corpus it was trained on, and the check that the corpus is
still there as it was.

Every checkpoint a training run writes (periodic, best, last, averaged) holds a `corpus` entry:

    {"data": "/abs/path/to/data/dir", "src": "de", "tgt": "en",
     "files": {"train.de.gz": "<sha256 hex>", "train.en.gz": "<sha256 hex>"}}

`data` is the corpus directory (resolved), `src`/`tgt` the language codes, and `files` the
SHA-256 of each train file that was read (its bytes as stored: a recompressed `.gz` differs),
source first. Checkpoints of earlier releases have no such entry. `translator evaluate
--analysis` (translator/evaluation/analysis.py, `training_target`) counts word frequencies in
the recorded target file while it still has its recorded hash.

Hashing a large corpus takes a while, so the hashes are kept in the corpus' cache entry
(translator/data/prepare.py, `HASHES`): that entry is keyed by the files' path, size and
modification time, and a second run on the same files reads them from there. No torch.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from translator.data.download import sha256_file as file_sha256  # (the one file hash)

HASHES = "sha256.json"
"""The train files' hashes in a corpus cache entry: {file name: sha256 hex}."""


def file_hashes(files: Sequence[Path], entry: Path | None = None) -> dict[str, str]:
    """{file name: sha256} of `files`, in their order; read from the cache entry `entry` when
    it has them, else computed and (best effort: a read-only cache is fine) stored there."""
    names = [Path(f).name for f in files]
    cached = _read_cached(entry / HASHES) if entry is not None else {}
    if all(name in cached for name in names):
        return {name: cached[name] for name in names}
    hashes = {Path(f).name: file_sha256(f) for f in files}
    if entry is not None and entry.is_dir():
        _write_cached(entry / HASHES, hashes)
    return hashes


def corpus_record(data_dir: str | Path, src_lang: str, tgt_lang: str, files: Sequence[Path],
                  entry: Path | None = None) -> dict:
    """A checkpoint's `corpus` entry for the train `files` (source, target) of `data_dir`."""
    return {"data": str(Path(data_dir).resolve()), "src": src_lang, "tgt": tgt_lang,
            "files": file_hashes(files, entry)}


def _read_cached(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cached(path: Path, hashes: dict[str, str]) -> None:
    """Atomically (a temporary file renamed into place); nothing happens if it cannot."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(hashes, f)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
