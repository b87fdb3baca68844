"""The training state that makes a resume exact, and its serialisation: `to_checkpoint` writes a
checkpoint's `train_state` entry, `from_checkpoint` reads it back (the two places that know
its keys), and `resume_config`, the config a resumed run goes on with.

A checkpoint's `train_state` holds:
  state         vars(TrainState): step, epoch, position in the epoch, best BLEU, ...
  optimizer     the optimizer's state_dict
  rng_torch, rng_python, rng_cuda
                the random streams of the rank that wrote it (rank 0)
  world_size, accum_steps
                the batches per update (ranks x accumulation steps) the position counts
  scaler        AMP's loss scale (CUDA runs with AMP only)
  rng_ranks     every rank's random streams, {"torch", "python", "cuda"} each (last.pt of a
                run under torchrun only)
A last.pt of 0.1.0 (commit 1fe94ba) lacks the later keys (`validated_step` in `state`,
`world_size`, `accum_steps`, `scaler`, `rng_ranks`): `from_checkpoint` reads it too (as it
reads one without `decay_until`, newer than 0.3.0: 0, no decay started). Those
branches may go once no 0.1.0 run is left to resume (a finished run's checkpoints need none of
them: they are read by `Translator`, which never reads the training state).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

import torch

from translator.config import Config, TrainConfig
from translator.errors import UserError
from translator.training.distributed import Ranks

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # updates made in `epoch` (each rank's batches, accumulated)
    elapsed: float = 0.0  # training seconds so far (validation included)
    best_bleu: float = -1.0
    best_step: int = 0
    best_directions: dict[str, float] = field(default_factory=dict)  # multilingual: each BLEU
    bad_evals: int = 0
    # wsd: the step at which the decay that patience started ends (0: not started; schedule.py)
    decay_until: int = 0
    validated_step: int = 0  # the last step validated
    periodic: list[str] = field(default_factory=list)
    stop_reason: str = ""
    init_from: str = ""  # the checkpoint a warm-started run began from (`train --init`)


def rng_state(device: torch.device) -> dict:
    """This process' random streams: torch's, Python's and, on CUDA, the device's."""
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None}


def to_checkpoint(state: TrainState, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler | None, world_size: int, accum_steps: int,
                  device: torch.device, rank_rngs: list[dict] | None = None) -> dict:
    """A checkpoint's `train_state` entry (the module docstring lists its keys, written in
    this order): `rank_rngs` is every rank's `rng_state` (last.pt under torchrun)."""
    rng = rng_state(device)
    train_state = {
        "state": dict(vars(state)),
        "optimizer": optimizer.state_dict(),
        "rng_torch": rng["torch"],
        "rng_python": rng["python"],
        "rng_cuda": rng["cuda"],
        "world_size": world_size,
        "accum_steps": accum_steps,
    }
    if scaler is not None:
        train_state["scaler"] = scaler.state_dict()
    if rank_rngs is not None:
        train_state["rng_ranks"] = rank_rngs
    return train_state


def from_checkpoint(train_state: dict, optimizer: torch.optim.Optimizer, ranks: Ranks,
                    train: TrainConfig, device: torch.device) -> tuple[TrainState, dict | None]:
    """Restore a checkpoint's `train_state` into this rank: `optimizer` (made afresh for the
    restored model), the random streams and the position in the epoch. Returns the state and
    AMP's loss-scale state (None if the run had none)."""
    optimizer.load_state_dict(train_state["optimizer"])
    saved = train_state["state"]
    # 0.1.0 did not record the validated step: taken as done (at worst the interrupted
    # step's validation stays skipped, as that release left it)
    state = TrainState(**{"validated_step": saved["step"]} | saved)
    state.stop_reason = ""
    if state.decay_until and state.step >= state.decay_until:
        # a run resumed after the decay patience started had ended (a larger budget or
        # patience asked for): it goes on at its schedule, and patience may start another
        state.decay_until = state.bad_evals = 0
    _restore_rng(train_state, ranks, train.seed + ranks.rank + 1000 * state.step, device)
    _restore_position(train_state, state, ranks.world * train.accum_steps, ranks.main)
    return state, train_state.get("scaler")


def _restore_rng(train_state: dict, ranks: Ranks, fresh_seed: int, device: torch.device) -> None:
    """Each rank continues its own random streams (a checkpoint of one rank, or of 0.1.0, has
    rank 0's only: the others start new ones from `fresh_seed`)."""
    saved = train_state.get("rng_ranks")
    if saved and len(saved) == ranks.world:
        mine = saved[ranks.rank]
    elif ranks.main:
        mine = {"torch": train_state["rng_torch"], "python": train_state["rng_python"],
                "cuda": train_state.get("rng_cuda")}
    else:
        torch.manual_seed(fresh_seed)
        random.seed(fresh_seed)
        return
    torch.set_rng_state(mine["torch"])
    random.setstate(mine["python"])
    if device.type == "cuda" and mine.get("cuda") is not None:
        torch.cuda.set_rng_state(mine["cuda"])


def _restore_position(train_state: dict, state: TrainState, per_update: int,
                      warn: bool) -> None:
    """Resume is exact with the same batches per update (ranks x accumulation steps); with
    others, the run goes on from the same share of the epoch. `warn`: rank 0's warning of
    0.1.0's batch order."""
    before = train_state.get("world_size", 1) * train_state.get("accum_steps", 1)
    if "world_size" not in train_state and state.batch_in_epoch and warn:
        log.warning("this last.pt was written by an earlier release (0.1.0), which shuffled "
                    "batches in another order: the rest of epoch %d is drawn in the new "
                    "order, so some of its batches are seen twice and others not until "
                    "the next epoch", state.epoch)
    if before != per_update:
        state.batch_in_epoch = state.batch_in_epoch * before // per_update
        log.warning("resuming a run of %d batches per update with %d: training continues "
                    "from the same point of the epoch, but not exactly as before", before,
                    per_update)


RESUME_OPTIONS = ("max_steps", "max_epochs", "max_minutes", "threads", "device", "patience",
                  "accum_steps", "dist_timeout_minutes")


def resume_config(saved: Config, requested: Config, overrides: dict | None = None) -> Config:
    """On resume, keep the saved run's config but take the budget options asked for now.

    `overrides` holds the options given explicitly (the CLI passes only those, so a resumed
    60-minute run stays a 60-minute run); without it, the budget of `requested` applies.
    """
    if requested.data.langs and (set(requested.data.langs), set(requested.data.directions)) \
            != (set(saved.data.langs), set(saved.data.directions)):
        raise UserError("--resume goes on with the run's own languages: its checkpoint has "
                        + (f"the directions {', '.join(saved.data.directions)}"
                           if saved.data.langs else "one pair")
                        + "; start a new run in another --out for other languages")
    if overrides is None:
        overrides = {k: getattr(requested.train, k) for k in RESUME_OPTIONS}
    return saved.override("train", **{k: v for k, v in overrides.items() if k in RESUME_OPTIONS})
