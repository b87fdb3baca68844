"""The steps after the training loop (rank 0): averaging the last periodic checkpoints, the
confidence calibration of `best.pt`, and the run's summary. (The trainer also plots the log.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from translator.checkpoint import average_checkpoints, save_checkpoint
from translator.data.casing import CasingTable
from translator.training.calibrate import calibrate_checkpoint
from translator.training.state import TrainState


def average_periodic(run_dir: Path, last: int, model: torch.nn.Module,
                     validate: Callable[[], dict], state: TrainState,
                     write_record: Callable[[dict], None]) -> dict | None:
    """Average the `last` periodic checkpoints; keep the average if validation agrees.

    The average is written to `averaged.pt`; when its validation BLEU (`validate` with the
    averaged weights in `model`: {"bleu", "loss", ...}) beats `best.pt`, it becomes `best.pt`
    (the previous best is kept as `best_single.pt`). `model` gets its trained weights back.
    Returns the `average` record written (None when there were fewer than two to average).
    """
    names = state.periodic[-last:]
    if last < 2 or len(names) < 2:
        return None
    payload = average_checkpoints([run_dir / n for n in names])
    save_checkpoint(run_dir / "averaged.pt", payload)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(payload["model"])
    result = validate()
    model.load_state_dict(trained)
    record = {"type": "average", "step": state.step, "checkpoints": names,
              "bleu": result["bleu"], "loss": result["loss"], "best_single_bleu": state.best_bleu,
              **({"directions": result["directions"]} if result.get("directions") else {})}
    write_record(record)
    if result["bleu"] > state.best_bleu:
        (run_dir / "best.pt").replace(run_dir / "best_single.pt")
        payload["metrics"] = {**payload["metrics"], "val_bleu": result["bleu"]}
        save_checkpoint(run_dir / "best.pt", payload)
    return record


def calibrate_best(run_dir: Path, data_dir: Path, val_pairs: int, casing: CasingTable,
                   state: TrainState, write_record: Callable[[dict], None],
                   casings: dict[str, CasingTable] | None = None) -> dict | None:
    """Fit best.pt's confidence calibration on the validation set of `val_pairs` pairs
    (translator/training/calibrate.py; `casings`: a multilingual run's tables per source
    language); None without best.pt or with under two pairs."""
    best = run_dir / "best.pt"
    if not best.exists() or val_pairs < 2:
        return None
    result = calibrate_checkpoint(best, data_dir, table=casing, tables=casings)
    write_record({"type": "calibration", "step": state.step, **result["confidence"]})
    return result


def run_summary(state: TrainState, averaged: dict | None, calibration: dict | None) -> dict:
    """What `Trainer.run` returns and the log's `end` record holds."""
    summary = {"stop_reason": state.stop_reason, "step": state.step, "epoch": state.epoch,
               "elapsed_minutes": state.elapsed / 60, "best_val_bleu": state.best_bleu,
               "best_step": state.best_step}
    if state.best_directions:  # a multilingual run: the mean above, each direction here
        summary["best_val_bleu_directions"] = state.best_directions
    if state.init_from:
        summary["init_from"] = state.init_from
    if calibration:
        summary["confidence"] = calibration["confidence"]
    if averaged:
        summary["averaged_val_bleu"] = averaged["bleu"]
        if averaged.get("directions"):
            summary["averaged_val_bleu_directions"] = averaged["directions"]
        summary["averaged_from"] = averaged["checkpoints"]
    return summary
