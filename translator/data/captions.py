"""Multi30K's task-2 training captions as in-domain monolingual text (for back-translation and
self-training), built from the upstream raw files that `data/multi30k-task2.json` lists:

- the five caption files of each language (`task2/raw/train.{1..5}.xx.gz`), caption 1 of every
  image first, then caption 2, and so on;
- whitespace normalised (single spaces, trimmed), empty lines dropped;
- dropped: captions equal to a task-1 training line (task 1's English is one of the five),
  exact duplicates (the first kept), and **every line equal to a line of a Multi30K validation
  or test set** (val, test_2016_flickr, test_2017_flickr, test_2018_flickr,
  test_2017_mscoco), so that no evaluation line can become training data.

The result, `train.en.gz` and `train.de.gz`, is checked against the manifest's `build` entries
(the lines and the SHA-256 of the text): built from the same upstream files it equals the copy in
`../shared/data/multi30k-task2`. Nothing is left behind when a check fails.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Any

from translator.data.download import MANIFEST_PATH, DownloadError, download_corpus, load_manifest
from translator.defaults import EVALUATION_SPLITS

TASK2_MANIFEST = MANIFEST_PATH.with_name("multi30k-task2.json")
CAPTIONS = 5


def download_captions(out_dir: str | Path, base_url: str | None = None,
                      manifest: dict[str, Any] | None = None, timeout: float = 60,
                      progress: bool = True) -> Path:
    """Download the raw files into `out_dir`/raw (verified, skipped when already there) and
    build `out_dir`/train.xx.gz for each language of the manifest's `build`."""
    manifest = manifest if manifest is not None else load_manifest(TASK2_MANIFEST)
    out_dir = Path(out_dir)
    raw = download_corpus(out_dir / "raw", base_url, manifest, timeout=timeout,
                          progress=progress)
    for name, entry in manifest.get("build", {}).items():
        build_language(raw, name.split(".")[1], out_dir / name, entry)
    return out_dir


def captions(raw: Path, lang: str) -> list[str]:
    """The task-2 captions of `lang` under the rules of the module docstring."""
    drop = set(_lines(raw / "task1" / "raw" / f"train.{lang}.gz"))
    for split in EVALUATION_SPLITS:
        drop.update(_lines(raw / "task1" / "raw" / f"{split}.{lang}.gz"))
    seen: set[str] = set()
    out = []
    for i in range(1, CAPTIONS + 1):
        for line in _lines(raw / "task2" / "raw" / f"train.{i}.{lang}.gz"):
            if line and line not in drop and line not in seen:
                seen.add(line)
                out.append(line)
    return out


def build_language(raw: Path, lang: str, target: Path, entry: dict[str, Any]) -> None:
    """Write `target` (gzip, reproducible: no name or time in its header) once its text matches
    the manifest entry's line count and SHA-256."""
    text = "".join(line + "\n" for line in captions(raw, lang))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    lines = text.count("\n")
    if lines != entry["lines"] or digest != entry["text_sha256"]:
        raise DownloadError(f"{target.name} built from the raw files has {lines} lines (sha256 "
                            f"{digest}), expected {entry['lines']} ({entry['text_sha256']})")
    tmp = target.with_name(f".{target.name}.part")
    try:
        with open(tmp, "wb") as raw_out, gzip.GzipFile(filename="", mode="wb", fileobj=raw_out,
                                                        mtime=0) as out:
            out.write(text.encode("utf-8"))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DownloadError(f"missing raw file {path}")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [" ".join(line.split()) for line in f.read().split("\n")]
