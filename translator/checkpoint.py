"""Self-contained checkpoints: one file with format version, config, SentencePiece models,
weights, training state and metrics; and the file names of a run's periodic checkpoints
(`periodic_name` writes them, `periodic_step` reads them back).

Files are written atomically (temporary file, then rename) and read with
`torch.load(weights_only=True)`, which never executes code from the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from translator.checkpoint_file import periodic_name, periodic_step, why_unreadable

from .errors import CheckpointError

FORMAT = "translator-checkpoint"
FORMAT_VERSION = 1

__all__ = ["CheckpointError", "average_checkpoints", "load_checkpoint", "periodic_name",
           "periodic_step", "save_checkpoint"]


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (plus format markers) atomically to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint; every failure is a `CheckpointError` with a clear message."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:
        # weights_only unpickling runs no code from the file, so any failure here means the file
        # is unreadable; garbage input raises many types (IndexError, UnpicklingError, ...).
        # The message is ours: torch's own advises loading the file unsafely.
        raise CheckpointError(f"{path} is not a readable checkpoint: {_why_unreadable(path)}"
                              ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a translator checkpoint (no '{FORMAT}' marker)")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this program reads up to "
            f"{FORMAT_VERSION}: upgrade the translator package"
        )
    for key in ("config", "spm", "model"):
        if key not in data:
            raise CheckpointError(f"{path} is incomplete: it has no '{key}' entry")
    return data


def _why_unreadable(path: Path) -> str:
    """What is wrong with a file torch cannot load safely, in our words."""
    return why_unreadable(path) or ("it holds objects a safe load refuses (not a checkpoint "
                                    "written by `translator train`; never load an untrusted "
                                    "file unsafely)")


def average_checkpoints(paths: list[str | Path]) -> dict[str, Any]:
    """Average the weights of several checkpoints of the same model.

    Returns the first checkpoint's payload with averaged weights and no training state (an
    average is for translation, not for resuming).
    """
    if not paths:
        raise CheckpointError("no checkpoints to average")
    first = load_checkpoint(paths[0])
    total = {k: v.double().clone() for k, v in first["model"].items()}
    for path in paths[1:]:
        weights = load_checkpoint(path)["model"]
        if weights.keys() != total.keys() or any(
                weights[k].shape != total[k].shape for k in total):
            raise CheckpointError(f"{path} does not have the same parameters as {paths[0]}")
        for k, v in weights.items():
            total[k] += v.double()
    avg = {k: (v / len(paths)).to(first["model"][k].dtype) for k, v in total.items()}
    payload = {k: v for k, v in first.items() if k not in ("format", "format_version")}
    payload.update(model=avg, train_state=None,
                   averaged_from=[str(Path(p).name) for p in paths])
    return payload
