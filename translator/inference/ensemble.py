"""Ensembles at load time: the checks that checkpoints can decode together, and the confidence
calibration of the ensemble itself (the model is translator/model/ensemble.py; a model spec
`a.pt+b.pt` names one: translator/checkpoint_file.py, `spec_members`).

Members must share both SentencePiece models (the same bytes) and the language pair, else a
CheckpointError names the two that differ.

An ensemble's scores are not any member's, so a member's stored calibration does not apply:
the ensemble gets its own, fitted as `translator calibrate` fits a checkpoint's (the logistic
curve of translator/inference/confidence.py, on the validation split's sentence chrF at beam
5, in fp32; an ensemble of multilingual checkpoints one per direction, on the same sample of
MULTILINGUAL_CALIBRATION_SENTENCES validation lines of each, as a multilingual checkpoint's)
and kept in a small JSON file beside the first member:

    <first member's dir>/<its stem>.ensemble-<key>.json

`key` is the SHA-256 of the members' own SHA-256s, in spec order (its first 16 hex digits
name the file), so the name follows the members' contents: a member retrained, averaged again
or replaced gives another key. A calibration file of the same members (by path) with another key is
stale: it is ignored with a warning naming it, and deleted once a new one is written.

When is it fitted: by `translator calibrate --checkpoint a.pt+b.pt [--data DIR]`, and
otherwise on the first load without a current file (`Translator.from_checkpoint`, so the
first `translate`, worker or evaluation to use the ensemble) when the validation set is known:
the corpus directory the first member records (its `corpus` entry) still has the pair's `val`
split. Concurrent loads wait for one fit (a lock on the first member's file). Without a
stored calibration and without a known validation set, the confidence is uncalibrated, as for
a single checkpoint without one (exp of the mean token log-probability); a log line says how
to fit one. A directory that cannot be written keeps the fit in memory for this process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from translator.checkpoint import CheckpointError
from translator.checkpoint_file import join_spec
from translator.data.corpus import CorpusError, ParallelCorpus, read_split
from translator.data.corpus_record import file_sha256
from translator.defaults import BATCH_TOKENS, BEAM_SIZE, MULTILINGUAL_CALIBRATION_SENTENCES
from translator.inference.confidence import Calibration, fit, mean_log_prob

log = logging.getLogger(__name__)

FORMAT = "translator-ensemble-calibration"


def check_members(paths: Sequence[str], payloads: Sequence[dict]) -> None:
    """CheckpointError, naming both, for the first member whose SentencePiece models or
    language pair differ from the first member's."""
    first, head = paths[0], payloads[0]
    for path, data in zip(paths[1:], payloads[1:]):
        for side in ("src", "tgt"):
            if data["spm"].get(side) != head["spm"].get(side):
                raise CheckpointError(
                    f"{path} and {first} cannot decode as an ensemble: their {side} "
                    f"SentencePiece models differ (an ensemble needs one vocabulary)")
        pair, head_pair = _pair(data), _pair(head)
        if pair != head_pair:
            raise CheckpointError(f"{path} ({pair}) and {first} ({head_pair}) cannot decode "
                                  f"as an ensemble: their language pairs differ")


def _pair(data: dict) -> str:
    """The language pair of a member, or a multilingual member's directions."""
    meta = data.get("meta") or {}
    if meta.get("directions"):
        return ",".join(meta["directions"])
    return f"{meta.get('src_lang') or '?'}-{meta.get('tgt_lang') or '?'}"


# ----------------------------------------------------------------------------- the file
def members_key(paths: Sequence[str]) -> str:
    """The hex digest naming the members' contents (in spec order)."""
    digest = hashlib.sha256()
    for path in paths:
        stat = Path(path).stat()
        digest.update(_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
                      .encode() + b"\n")
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """A member's SHA-256, once per process while its size and modification time hold."""
    return file_sha256(path)


def calibration_path(paths: Sequence[str], key: str) -> Path:
    first = Path(paths[0])
    return first.with_name(f"{first.stem}.ensemble-{key[:16]}.json")


Fitted = tuple[Calibration | None, dict[str, Calibration]]
"""An ensemble's calibration as a Translator holds it: `calibration` (a model of one pair)
and `calibrations` (per direction, of multilingual members)."""

UNCALIBRATED: Fitted = (None, {})


def read_calibration(path: Path, key: str) -> Fitted | None:
    """The calibration stored at `path` for the members of `key`; None if there is none."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") == FORMAT and record.get("key") == key:
            return _fitted(record["confidence"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring the ensemble calibration %s: %s", path, exc)
    return None


def _fitted(confidence: dict) -> Fitted:
    """A stored "confidence" as a Translator holds it: per direction ({"directions": {...}})
    or one calibration."""
    if "directions" in confidence:
        return None, {d: Calibration.from_dict(c) for d, c in confidence["directions"].items()}
    return Calibration.from_dict(confidence), {}


def stale_calibrations(paths: Sequence[str], current: Path) -> list[Path]:
    """Calibration files beside the first member fitted for these members (same paths) when
    their contents were different."""
    resolved = [str(Path(p).resolve()) for p in paths]
    stale = []
    for path in sorted(current.parent.glob(f"{Path(paths[0]).stem}.ensemble-*.json")):
        if path == current:
            continue
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("members") == resolved:
                stale.append(path)
        except (OSError, ValueError, AttributeError):
            continue
    return stale


# ----------------------------------------------------------------------------- at load
def ensemble_calibration(translator, paths: Sequence[str], corpus_dir: str | None,
                         fit_missing: bool = True) -> Fitted:
    """The ensemble's stored calibration; else, with `fit_missing` and a known validation
    set (`corpus_dir`, the first member's recorded corpus), one fitted now and stored; else
    UNCALIBRATED. `translator` is the ensemble's, in fp32."""
    spec = join_spec(list(paths))
    key = members_key(paths)
    path = calibration_path(paths, key)
    found = read_calibration(path, key)
    if found is not None:
        log.info("ensemble %s: confidence calibration from %s", spec, path)
        return found
    for old in stale_calibrations(paths, path):
        log.warning("ensemble %s: ignoring its calibration %s, fitted when a member's contents "
                    "were different", spec, old)
    hint = f"`translator calibrate --checkpoint {spec} --data DIR` fits one"
    if not fit_missing:
        log.info("ensemble %s has no calibration: its confidence is uncalibrated (%s)",
                 spec, hint)
        return UNCALIBRATED
    data_dir = _validation_dir(corpus_dir, translator)
    if data_dir is None:
        log.info("ensemble %s has no calibration and no known validation set: its confidence "
                 "is uncalibrated (%s)", spec, hint)
        return UNCALIBRATED
    with _locked(paths[0]):
        found = read_calibration(path, key)  # another process fitted it while we waited
        if found is not None:
            return found
        log.info("ensemble %s: fitting its confidence calibration on %s (val)", spec, data_dir)
        return _fitted(store_calibration(translator, paths, data_dir)["confidence"])


def _validation_dir(corpus_dir: str | None, translator) -> str | None:
    if not corpus_dir:
        return None
    try:
        _held_out(translator, corpus_dir, "val")
    except (CorpusError, OSError):
        return None
    return corpus_dir


def _held_out(translator, data_dir: str | Path, split: str) -> dict[str | None, ParallelCorpus]:
    """What the ensemble's calibration is fitted on: `split` of its pair ({None: corpus}),
    or the sample of every direction of multilingual members ({direction: corpus})."""
    if not translator.multilingual:
        return {None: read_split(data_dir, split, translator.src_lang, translator.tgt_lang)}
    from translator.data.multilingual import validation_sets

    return validation_sets(data_dir, translator.directions, MULTILINGUAL_CALIBRATION_SENTENCES,
                           split=split)


@contextlib.contextmanager
def _locked(path: str):
    """An exclusive lock on the file at `path` (the first member) while one process fits."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock, at worst two fits
        yield
        return
    with open(path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- the fit
def store_calibration(translator, paths: Sequence[str], data_dir: str | Path,
                      split: str = "val", beam_size: int = BEAM_SIZE,
                      batch_tokens: int = BATCH_TOKENS) -> dict:
    """Fit the ensemble's calibration on `split` of `data_dir` and write its file (stale ones
    of the same members removed); returns the record written, with "file" (None where the
    directory cannot be written: the fit is then only returned)."""
    fits = {}
    for direction, corpus in _held_out(translator, data_dir, split).items():
        view = translator.for_pair(*direction.split("-", 1)) if direction else translator
        calibration, pearson, spearman = fit_calibration(view, corpus.src, corpus.tgt, split,
                                                         beam_size, batch_tokens)
        fits[direction] = {**calibration.to_dict(), "pearson": pearson, "spearman": spearman}
    confidence = fits[None] if None in fits else {"directions": fits}
    key = members_key(paths)
    path = calibration_path(paths, key)
    record = {"format": FORMAT, "members": [str(Path(p).resolve()) for p in paths],
              "key": key, "data": str(Path(data_dir).resolve()), "beam": beam_size,
              "fitted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "confidence": confidence}
    try:
        _write_json(path, record)
    except OSError as exc:
        log.warning("could not store the ensemble calibration in %s (%s): it holds for this "
                    "process only", path, exc.strerror or exc)
        return {**record, "file": None}
    for old in stale_calibrations(paths, path):
        old.unlink(missing_ok=True)
        log.info("removed the stale ensemble calibration %s", old)
    log.info("ensemble calibration stored in %s", path)
    return {**record, "file": str(path)}


def fit_calibration(translator, src: Sequence[str], refs: Sequence[str], split: str = "val",
                    beam_size: int = BEAM_SIZE, batch_tokens: int = BATCH_TOKENS
                    ) -> tuple[Calibration, float | None, float | None]:
    """The calibration of `translator`'s confidence on `src` / `refs`, as `translator
    calibrate` fits a checkpoint's (translator/training/calibrate.py), with the Pearson and
    Spearman correlation of the feature with sentence chrF."""
    import sacrebleu

    features, quality = [], []
    for hyps, ref in zip(translator.translate_hypotheses(src, beam_size=beam_size,
                                                         batch_tokens=batch_tokens), refs):
        if hyps:
            text, hyp = hyps[0]
            features.append(mean_log_prob(hyp.log_prob, len(hyp.tokens)))
            quality.append(sacrebleu.sentence_chrf(text, [ref]).score / 100)
    calibration = fit(features, quality, split, anchor=-math.log(len(translator.tgt_tok)))
    return calibration, _correlation(features, quality), _correlation(_ranks(features),
                                                                      _ranks(quality))


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    try:
        return round(statistics.correlation(xs, ys), 4)
    except statistics.StatisticsError:  # a constant series
        return None


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks with ties sharing their average rank (Spearman's)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _write_json(path: Path, record: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
