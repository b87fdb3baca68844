"""Back-translation (and forward translation) of monolingual text into a parallel corpus: the
input lines translated by a checkpoint, written as `train.<its source>.gz` (the input, real) and
`train.<its target>.gz` (the translations, synthetic) in the corpus layout `translator train
--extra` reads.

For back-translation the checkpoint translates *from* the language of the monolingual text (an
En->De model turns English captions into synthetic German sources for a De->En model); for
forward translation (self-training) the same command runs a De->En model on German text. The
input's language must be the checkpoint's source language: anything else is refused.

Work goes in parts of `PART_LINES` lines (`part-00000.<lang>.gz` in the output directory, each
finished part renamed into place): an interrupted run resumes at the first missing part, and
the final files are the parts' gzip members concatenated. Lines of the evaluation sets
(`--data`'s val and test splits, either language) found in the input are refused: they must
never become training data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from translator.data.corpus import CorpusError, iter_raw_lines, normalize

log = logging.getLogger(__name__)

PART_LINES = 5_000
"""Lines per part: what an interruption can lose."""


_LANG = re.compile(r"\.([a-z]{2,3})(\.gz)?$")
_NOT_LANGUAGES = frozenset({"txt", "gz", "tsv", "csv", "raw", "tok", "out", "log", "xml"})
"""File extensions the name pattern would otherwise read as a language."""


def language_of(path: str | Path) -> str | None:
    """The language a file's name gives (`mono.en.gz` -> en), or None."""
    match = _LANG.search(Path(path).name)
    return match.group(1) if match and match.group(1) not in _NOT_LANGUAGES else None


def check_direction(lang: str | None, src_lang: str, tgt_lang: str, path: str | Path) -> None:
    """Refuse input whose language is not the checkpoint's source (CorpusError, saying what
    would be needed)."""
    if lang is None:
        raise CorpusError(f"cannot tell the language of {path} from its name: give --lang")
    if lang != src_lang:
        raise CorpusError(f"{path} is in '{lang}' but the checkpoint translates "
                          f"{src_lang}->{tgt_lang}: back-translating '{lang}' text needs a "
                          f"{lang}->xx checkpoint")


def read_mono(path: str | Path, limit: int = 0) -> list[str]:
    """The non-empty lines of a monolingual file (plain or gzip), normalised, at most
    `limit` (0: all)."""
    out = []
    for number, raw in enumerate(iter_raw_lines(path), 1):
        try:
            line = normalize(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path} is not valid UTF-8 (line {number}, byte {exc.start})"
                              ) from None
        if line:
            out.append(line)
            if limit and len(out) >= limit:
                break
    return out


def identity_of(checkpoint: str | Path, **settings) -> dict:
    """What a back-translation's output depends on besides its input: the checkpoint (each
    member's path, size and modification time) and the decoding settings."""
    from translator.checkpoint_file import spec_members

    members = []
    for member in spec_members(str(checkpoint)):
        st = Path(member).stat()
        members.append([str(Path(member).resolve()), st.st_size, st.st_mtime_ns])
    return {"checkpoint": members, **settings}


def backtranslate(translate: Callable[[list[str]], list[str]], lines: list[str], out: Path,
                  src_lang: str, tgt_lang: str, part_lines: int = PART_LINES,
                  on_part: Callable[[int], None] | None = None,
                  identity: dict | None = None) -> dict:
    """Translate `lines` part by part into `out` (resuming after the parts already there) and
    join the parts into train.<src_lang>.gz and train.<tgt_lang>.gz. Returns a summary.

    `identity` (what produced the parts: the checkpoint, the settings) and the input's hash are
    kept in `out`/run.json: parts of another run (other input, model or settings) are never
    resumed from (CorpusError)."""
    out.mkdir(parents=True, exist_ok=True)
    _claim(out, {**(identity or {}), "lines": len(lines), "part_lines": part_lines,
                 "languages": [src_lang, tgt_lang],
                 "input_sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()})
    done = resumed = 0
    parts = 0
    for index, part in enumerate(_parts(lines, part_lines)):
        parts = index + 1
        names = [out / f"part-{index:05d}.{lang}.gz" for lang in (src_lang, tgt_lang)]
        if all(n.is_file() for n in names):
            resumed += len(part)
        else:
            translations = translate(part)
            if len(translations) != len(part):
                raise RuntimeError("the translator returned another number of lines")
            for name, texts in zip(names, (part, translations)):
                _write_atomically(name, texts)
        done += len(part)
        if on_part:
            on_part(len(part))
    for lang in (src_lang, tgt_lang):
        _join([out / f"part-{i:05d}.{lang}.gz" for i in range(parts)], out / f"train.{lang}.gz")
    return {"lines": done, "resumed_lines": resumed, "out": str(out),
            "files": [f"train.{src_lang}.gz", f"train.{tgt_lang}.gz"]}


def _claim(out: Path, run: dict) -> None:
    """Record what this run is in out/run.json, or refuse when the directory holds another's."""
    path = out / "run.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != run:
            changed = sorted(k for k in {**previous, **run} if previous.get(k) != run.get(k))
            raise CorpusError(f"{out} holds the parts of another back-translation (it differs "
                              f"in {', '.join(changed)}): remove it or choose another --out")
        return
    path.write_text(json.dumps(run, indent=2) + "\n")


def _parts(lines: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(lines), size):
        yield lines[start:start + size]


def _write_atomically(path: Path, texts: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        f.writelines(t.replace("\n", " ") + "\n" for t in texts)
    os.replace(tmp, path)


def _join(parts: list[Path], target: Path) -> None:
    """The parts' gzip members one after another: one valid gzip file."""
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as joined:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, joined)
    os.replace(tmp, target)
