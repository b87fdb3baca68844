"""Checks of what a request or a task message carries, shared by the intake (worker/intake.py),
the workbench (worker/workbench.py) and the tasks: sizes and text encodings of uploads, beam
sizes, a text job's segments, and checkpoint names (only listed checkpoints are read, alone
or joined by `+` into an ensemble). Each raises InputError (TooLargeError for a size limit)
with a message for the user. No torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from translator.checkpoint_file import MEMBER_SEPARATOR, join_spec, spec_members
from translator.defaults import MAX_BEAM, MIN_BEAM

from .errors import InputError, TooLargeError
from .settings import Settings


def _bytes_within(data: bytes | str, max_bytes: int) -> bytes:
    """An upload's bytes (text as UTF-8), refused when not valid Unicode or larger than
    `max_bytes`."""
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    except UnicodeEncodeError:  # a lone surrogate in JSON text ("\ud800")
        raise InputError("the text holds characters that are not valid Unicode (a lone "
                         "surrogate)") from None
    if len(raw) > max_bytes:
        raise TooLargeError(f"the document has {len(raw):,} bytes; the limit is "
                            f"{max_bytes:,}")
    return raw


def check_size(data: bytes | str, max_bytes: int) -> bytes:
    """An upload's bytes, refused when empty or larger than `max_bytes`."""
    raw = _bytes_within(data, max_bytes)
    if not raw.strip():
        raise InputError("the document is empty")
    return raw


def decode_document(data: bytes | str, max_bytes: int) -> str:
    """The text of an uploaded document; raises InputError for empty, too large, binary or
    non-UTF-8 input."""
    raw = _bytes_within(data, max_bytes)
    if b"\x00" in raw:
        raise InputError("the document is a binary file, not UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"the document is not valid UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise InputError("the document is empty")
    return text


def check_beam(beam: Any, *, task: bool = False) -> int:
    """A beam size: an integer from MIN_BEAM to MAX_BEAM (not a bool), else InputError, whose
    message names a request's `beam_size` or, with `task`, a task's argument and its value."""
    if not isinstance(beam, int) or isinstance(beam, bool) or not MIN_BEAM <= beam <= MAX_BEAM:
        if task:
            raise InputError(f"the task's beam size {beam!r} is not from {MIN_BEAM} to "
                             f"{MAX_BEAM}")
        raise InputError(f"beam_size must be an integer from {MIN_BEAM} to {MAX_BEAM}")
    return beam


def check_segments(value: Any, settings: Settings, what: str = "text") -> list[str]:
    """A text job's segments (a string or a list of strings) within the limits."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InputError(f"{what} must be a string or a list of strings")
    if not value or not any(s.strip() for s in value):
        raise InputError(f"{what} is empty")
    if len(value) > settings.max_segments:
        raise TooLargeError(f"{what} has {len(value)} segments; the limit is "
                            f"{settings.max_segments}")
    chars = sum(map(len, value))
    if chars > settings.max_text_chars:
        raise TooLargeError(f"{what} has {chars:,} characters; the limit is "
                            f"{settings.max_text_chars:,} (use a document job for longer texts)")
    if any("\x00" in s for s in value):
        raise InputError(f"{what} contains NUL characters")
    try:
        for s in value:
            s.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in JSON text ("\ud800")
        raise InputError(f"{what} holds characters that are not valid Unicode (a lone "
                         f"surrogate)") from None
    return value


def resolve_checkpoint(settings: Settings, name: str) -> str:
    """The path of a listed checkpoint, from its name (what an evaluation task carries), or
    for listed names joined by `+` (an ensemble) the model spec of their paths; a task of a
    release that sent the path itself is accepted when that path is a listed one. Anything
    else is refused: a message injected into Redis cannot make a worker read a file the
    operator did not list (served models and CHECKPOINT_DIRS' runs)."""
    known = known_checkpoints(settings)
    if isinstance(name, str) and name in set(known.values()):
        return name
    members = listed_members(known, name)
    if members is None:
        raise InputError(f"{str(name)[:100]!r} is not a checkpoint this server lists (its "
                         f"models and the runs under CHECKPOINT_DIRS), nor up to "
                         f"{MAX_MEMBERS} of them joined by {MEMBER_SEPARATOR}")
    return join_spec([known[m] for m in members])


MAX_MEMBERS = 8
"""The most listed checkpoints one evaluation may join into an ensemble."""

MAX_SPEC_CHARS = 300
"""The longest checkpoint name (or names joined by +) a request may give: what a job's record
keeps."""


def listed_members(known: dict[str, str], name: Any) -> list[str] | None:
    """The listed names (keys of `known`) that `name` joins with `+`, in order: [name] for a
    listed one, [a, b] for `a+b` (spaces around `+` ignored; a listed name may hold a `+`
    itself, as a served ensemble's does); None for anything else or more than MAX_MEMBERS."""
    if not isinstance(name, str) or len(name) > MAX_SPEC_CHARS:
        return None
    if name in known:
        return [name]
    parts = name.split(MEMBER_SEPARATOR)
    if len(parts) > MAX_MEMBERS * (1 + max((k.count(MEMBER_SEPARATOR) for k in known),
                                           default=0)):
        return None  # more parts than any list of MAX_MEMBERS names has
    found: dict[int, list[str]] = {0: []}  # parts[:i] covered by these names
    for i in range(len(parts)):
        if i not in found:
            continue
        for j in range(i + 1, len(parts) + 1):
            candidate = MEMBER_SEPARATOR.join(parts[i:j]).strip()
            if candidate in known and j not in found:
                found[j] = found[i] + [candidate]
    members = found.get(len(parts))
    return members if members and len(members) <= MAX_MEMBERS else None


def served_name(pair: str, path: str) -> str:
    """The listed name of a served model: `de-en (best.pt)`, `de-en (best.pt+best.pt)`."""
    return f"{pair} ({MEMBER_SEPARATOR.join(Path(m).name for m in spec_members(path))})"


def known_checkpoints(settings: Settings) -> dict[str, str]:
    """{name: path} of the checkpoints that can be evaluated: the served models (named by
    pair, `served_name`) and `*.pt` files in the run directories of CHECKPOINT_DIRS (named
    `run/file.pt`). Only these names are accepted, so no path comes from a user."""
    out = {served_name(pair, path): path for pair, path in settings.model_paths().items()}
    for root in settings.checkpoint_roots():
        if root.is_dir():
            for path in sorted(root.glob("*/*.pt")):
                out[f"{path.parent.name}/{path.name}"] = str(path)
    return out
