"""What is wrong with a checkpoint file, found without loading it (and without torch): the
worker's start-up check and `translator serve`'s, and the words of `load_checkpoint`'s error
when torch refuses a file (never torch's own message, which advises loading it unsafely); and
the names of a run's periodic checkpoints."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path


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


PERIODIC_NAME = re.compile(r"step(\d+)\.pt")
"""A periodic checkpoint's file name (what `periodic_name` writes; any number of digits)."""


def periodic_name(step: int) -> str:
    """The file name of a run's periodic checkpoint at `step`: `step0000150.pt`."""
    return f"step{step:07d}.pt"


def periodic_step(name: str) -> int | None:
    """The step of a periodic checkpoint's file name (`periodic_name`); None for other names."""
    match = PERIODIC_NAME.fullmatch(name)
    return int(match.group(1)) if match else None
