"""What is wrong with a checkpoint file, found without loading it (and without torch): the
worker's start-up check and `translator serve`'s, and the words of `load_checkpoint`'s error
when torch refuses a file (never torch's own message, which advises loading it unsafely); a
checkpoint's `meta` read without torch (the languages MODELS serves, for the web); the
names of a run's periodic checkpoints; and the model spec every command, MODELS and the
evaluation queue read: one checkpoint, or several joined by `+` (an ensemble)."""

from __future__ import annotations

import codecs
import collections
import pickle
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from .errors import CheckpointError


def why_unreadable(path: str | Path) -> str | None:
    """None for a file that looks like a complete PyTorch checkpoint archive (every member's
    CRC checked), else the reason in a few words."""
    path = Path(path)
    if not path.exists():
        return "the file does not exist"
    if not path.is_file():
        return "it is not a file"
    if path.stat().st_size == 0:
        return "the file is empty"
    try:
        if not zipfile.is_zipfile(path):
            return "it is not a PyTorch checkpoint archive (truncated, or another kind of file)"
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:
                return "the archive is corrupt (a damaged or incomplete copy)"
            if not any(name.endswith("/data.pkl") or name == "data.pkl"
                       for name in archive.namelist()):
                return "the archive holds no PyTorch data (not a checkpoint)"
    except PermissionError:
        return "the file cannot be read (permissions)"
    except Exception:  # noqa: BLE001 (a damaged directory raises many types)
        return "the archive is corrupt (a damaged or incomplete copy)"
    return None


class _WithoutTensors(pickle.Unpickler):
    """Unpickles a checkpoint's `data.pkl` with every torch object (tensors, storages) as
    None and nothing else but Python's plain types: no code from the file runs, and no
    tensor data is read."""

    def find_class(self, module: str, name: str):
        if (module, name) in _PLAIN:
            return _PLAIN[module, name]
        if module == "torch" or module.startswith("torch."):
            return _nothing
        raise pickle.UnpicklingError(f"{module}.{name} is not a checkpoint's")

    def persistent_load(self, pid):
        return None


_PLAIN = {("collections", "OrderedDict"): collections.OrderedDict,
          ("_codecs", "encode"): codecs.encode,  # bytes, as pickle protocol 2 writes them
          **{(module, t.__name__): t for t in (set, frozenset)
             for module in ("builtins", "__builtin__")}}  # protocol 2 names the second

MAX_META_PICKLE = 64 << 20
"""The largest `data.pkl` `read_meta` reads (a checkpoint's holds its SentencePiece models and
the tensors' names: a few megabytes); a larger one is no checkpoint of ours."""


def _nothing(*args, **kwargs) -> None:
    return None


def read_meta(path: str | Path) -> dict:
    """A checkpoint's `meta` entry (its languages: `src_lang`/`tgt_lang`, or a multilingual
    model's `langs` and `directions`), read without torch and without its weights; cached
    while the file's size and modification time hold. CheckpointError if unreadable."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    return dict(_read_meta(str(path), stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=64)
def _read_meta(path: str, size: int, mtime_ns: int) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            info = next(i for i in archive.infolist()
                        if i.filename.endswith("/data.pkl") or i.filename == "data.pkl")
            if info.file_size > MAX_META_PICKLE:
                raise ValueError("data.pkl too large")
            with archive.open(info) as f:
                data = _WithoutTensors(f).load()
        meta = data.get("meta") if isinstance(data, dict) else None
    except Exception:  # noqa: BLE001 (a damaged file raises many types)
        raise CheckpointError(f"{path} is not a readable checkpoint: "
                              f"{why_unreadable(path) or 'its data cannot be read'}") from None
    return meta if isinstance(meta, dict) else {}


def spec_directions(spec: str | Path) -> list[str]:
    """The directions a multilingual model spec translates (its first member's); [] for a
    model of one pair."""
    directions = read_meta(spec_members(spec)[0]).get("directions") or []
    return [str(d) for d in directions]


PERIODIC_NAME = re.compile(r"step(\d+)\.pt")
"""A periodic checkpoint's file name (what `periodic_name` writes; any number of digits)."""


def periodic_name(step: int) -> str:
    """The file name of a run's periodic checkpoint at `step`: `step0000150.pt`."""
    return f"step{step:07d}.pt"


def periodic_step(name: str) -> int | None:
    """The step of a periodic checkpoint's file name (`periodic_name`); None for other names."""
    match = PERIODIC_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


MEMBER_SEPARATOR = "+"
"""What joins the checkpoints of an ensemble in a model spec: `runs/a/best.pt+runs/b/best.pt`."""


def spec_members(spec: str | Path) -> list[str]:
    """The checkpoints of a model spec: `a.pt+b.pt` -> ["a.pt", "b.pt"] (spaces around `+`
    are ignored); a single path -> [it], also one with a `+` in its name that exists as a
    file. An empty member (`a.pt+`) is a CheckpointError."""
    text = str(spec)
    if MEMBER_SEPARATOR not in text or Path(text).is_file():
        return [text]
    members = [m.strip() for m in text.split(MEMBER_SEPARATOR)]
    if not all(members):
        raise CheckpointError(f"{text!r} names an empty checkpoint: an ensemble's checkpoints "
                              f"are joined by '{MEMBER_SEPARATOR}' (a.pt{MEMBER_SEPARATOR}b.pt)")
    return members


def join_spec(members: list[str]) -> str:
    """The model spec of `members` (`spec_members` of it gives them back)."""
    return MEMBER_SEPARATOR.join(str(m) for m in members)


def why_spec_unreadable(spec: str | Path) -> str | None:
    """`why_unreadable` for every checkpoint of a model spec: None when all look complete,
    else the reason (for an ensemble, "its member PATH: reason" of the first bad one)."""
    try:
        members = spec_members(spec)
    except CheckpointError as exc:
        return str(exc)
    for member in members:
        why = why_unreadable(member)
        if why:
            return why if len(members) == 1 else f"its member {member}: {why}"
    return None
