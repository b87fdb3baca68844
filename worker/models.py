"""Which model translates what: MODELS read into {pair: entry} (its `pair=path` entries, the
path one checkpoint or several joined by `+`, an ensemble; checkpoints named without a pair,
which serve every direction they translate (a multilingual model's, read from the checkpoint
without torch: translator/checkpoint_file.py); and the models directories `translator
train-pairs` writes, each re-read when its index.json changes; a run's test scores from the
summary.json beside its checkpoint, none for an ensemble), and the route of a language pair
over those models (its own model, or two steps through the pivot language). A model named for
its pair wins over a multilingual model's direction, wherever the two are listed.
`Settings.model_paths`, `model_entries`, `route` and `reachable` (worker/settings.py) read
them. Imports no torch."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from translator.checkpoint_file import join_spec, spec_members
from translator.errors import CheckpointError
from translator.languages import valid_pair

from .errors import SettingsError


def read_models(spec: str, scores: bool) -> dict[str, dict]:
    """{pair: {"pair", "checkpoint", "test", ...}} of a MODELS value: a models directory's
    index entries, a checkpoint named without a pair's directions (a multilingual model's
    every one), or for a `pair=path` entry its run's summary.json scores where there is one
    and `scores` is asked for ({} otherwise). Within each kind a later entry wins; a model
    named for its pair (a `pair=path` entry, a directory's single-pair run) wins over a
    one-pair checkpoint named without its pair, and both over a multilingual model's
    directions."""
    out: dict[str, dict] = {}
    shared: dict[str, dict] = {}  # the directions of multilingual models
    bare: dict[str, dict] = {}  # one-pair checkpoints named without their pair
    for item in filter(None, (s.strip() for s in spec.split(","))):
        pair, sep, path = item.partition("=")
        if not sep:
            if _names_checkpoint(item):
                for entry_pair, entry in _checkpoint_directions(item, scores).items():
                    (shared if entry["multilingual"] else bare)[entry_pair] = entry
            else:
                for entry_pair, entry in _models_directory(item).items():
                    (shared if entry.get("multilingual") else out)[entry_pair] = entry
            continue
        pair = pair.strip().lower()
        if not path.strip() or not valid_pair(pair):
            raise SettingsError(f"MODELS entry {item!r} is not `src-tgt=path` or a models "
                                f"directory")
        members = _members(item, path.strip())
        out[pair] = {"pair": pair, "checkpoint": join_spec(members),  # a.pt+b.pt: an ensemble
                     "test": _run_scores(members[0]) if scores and len(members) == 1 else {}}
    return {**shared, **bare, **out}


def _names_checkpoint(item: str) -> bool:
    """Whether a MODELS entry without a pair is a checkpoint (or an ensemble of them) rather
    than a models directory: its (first) member is a file, or is named like one (`.pt`,
    which `read_meta` then reports missing)."""
    try:
        first = Path(spec_members(item)[0])
    except CheckpointError:
        return False
    return first.is_file() or (first.suffix == ".pt" and not first.is_dir())


_LAST_READ: dict[str, dict[str, dict]] = {}
"""The directions last read of each checkpoint named without a pair (this process's)."""


def _checkpoint_directions(item: str, scores: bool) -> dict[str, dict]:
    """{pair: entry} of every direction a checkpoint named without a pair translates: a
    multilingual model's, or a model's one pair (from its `meta`)."""
    from translator.checkpoint_file import read_meta

    members = _members(item, item)
    try:
        meta = read_meta(members[0])
    except CheckpointError as exc:
        # unreadable now but read before (being replaced, or damaged since): its directions
        # stay listed, and loading it fails those directions' requests alone, not every pair's
        if item in _LAST_READ:  # the scores, if asked for, are gone with the file
            return {pair: {**entry, "test": entry["test"] if scores else {}}
                    for pair, entry in _LAST_READ[item].items()}
        raise SettingsError(f"MODELS entry {item!r}: {exc}") from None
    pairs = list(meta.get("directions") or [])
    if not pairs and meta.get("src_lang") and meta.get("tgt_lang"):
        pairs = [f"{meta['src_lang']}-{meta['tgt_lang']}"]
    pairs = [p for p in pairs if isinstance(p, str) and valid_pair(p)]
    if not pairs:
        raise SettingsError(f"MODELS entry {item!r}: the checkpoint does not name its "
                            f"languages; give its pair (`src-tgt={item}`)")
    spec, multilingual = join_spec(members), bool(meta.get("directions"))
    test: dict = {}
    if scores and len(members) == 1:
        test = (_run_scores(members[0], per_direction=True) if multilingual
                else {pairs[0]: _run_scores(members[0])})
    entries = {pair: {"pair": pair, "checkpoint": spec, "test": test.get(pair, {}),
                      "multilingual": multilingual} for pair in pairs}
    _LAST_READ[item] = entries
    return entries


def _members(item: str, path: str) -> list[str]:
    try:
        return spec_members(path)
    except CheckpointError as exc:
        raise SettingsError(f"MODELS entry {item!r}: {exc}") from None


def route_via(pair: str, models: dict[str, str], via: str) -> list[str] | None:
    """The model pairs that translate `pair`: itself when it has a model, else through the
    language `via` (`de-fr` -> ["de-en", "en-fr"]) when both halves have one; None."""
    if pair in models:
        return [pair]
    src, _, tgt = pair.partition("-")
    if via and via not in (src, tgt) and f"{src}-{via}" in models \
            and f"{via}-{tgt}" in models:
        return [f"{src}-{via}", f"{via}-{tgt}"]
    return None


def directions(models: dict[str, str], via: str) -> dict[str, dict[str, str | None]]:
    """{source: {target: None (a model) or `via`}} of every translatable direction, sorted."""
    codes = sorted({c for pair in models for c in pair.split("-")})
    out: dict[str, dict[str, str | None]] = {}
    for src in codes:
        for tgt in codes:
            steps = route_via(f"{src}-{tgt}", models, via) if src != tgt else None
            if steps:
                out.setdefault(src, {})[tgt] = None if len(steps) == 1 else via
    return out


def _models_directory(path: str) -> dict[str, dict]:
    """A models directory's index (translator/training/index.py), re-read when it changes."""
    index = Path(path) / "index.json"
    try:
        stamp = index.stat().st_mtime_ns
    except OSError:
        raise SettingsError(f"MODELS entry {path!r} is neither `src-tgt=path` nor a models "
                            f"directory with an index.json (translator train-pairs writes "
                            f"one)") from None
    return _read_models_directory(path, stamp)


@lru_cache(maxsize=16)
def _read_models_directory(path: str, stamp: int) -> dict[str, dict]:
    from translator.errors import UserError
    from translator.training.index import read_index

    try:
        return read_index(path)
    except UserError as exc:
        raise SettingsError(str(exc)) from None


def _run_scores(checkpoint: str, per_direction: bool = False) -> dict:
    """The test scores in the summary.json beside a checkpoint (`translator train` writes
    one), as a models index holds them: {"bleu_beam5": 15.6, ...}; with `per_direction`, a
    multilingual run's per direction: {"de-en": {"bleu_beam5": ...}, ...}; {} without one."""

    path = Path(checkpoint).parent / "summary.json"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read_run_scores(str(path), stamp, per_direction)


@lru_cache(maxsize=64)
def _read_run_scores(path: str, stamp: int, per_direction: bool) -> dict:
    from translator.training.index import summary_scores

    try:
        with open(path) as f:
            summary = json.load(f)
        if per_direction:
            return {d: summary_scores(s) for d, s in (summary.get("directions") or {}).items()}
        return summary_scores(summary)
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
