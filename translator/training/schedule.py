"""The learning-rate schedule and the training budget: `learning_rate` at a step, how much of
the budget (steps, epochs, minutes) a run has used, and the stop reasons once it is spent.

Under wsd, running out of patience does not stop a run at its peak learning rate: it starts
the decay there (`start_decay_early`), over the same share of the run as a budget's decay
(`decay_fraction` of the steps it then has made plus the decay's), and the run stops when that
ends. A run without a budget, or one whose validation stalls long before its budget ends,
so gets the decay that most of wsd's final gain comes from."""

from __future__ import annotations

import math

from translator.config import TrainConfig
from translator.training.state import TrainState

STOP_ELSEWHERE = "stopped with rank 0"
"""The stop reason of a rank other than 0 when rank 0 decided to stop (budget, patience)."""


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup, then the schedule (config.py): constant, cosine decay to `min_lr` over
    the budget, or wsd, constant until the last `decay_fraction` of the budget and a linear
    decay to `min_lr` there. `progress` (0..1) is the share of the budget used (0: none)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, max(0.0, progress))
    if cfg.schedule == "wsd":
        left = (1.0 - progress) / cfg.decay_fraction if cfg.decay_fraction else 1.0
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * min(1.0, left)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def budget_progress(cfg: TrainConfig, state: TrainState, n_batches: int) -> float:
    """How much of the step, epoch or time budget is used, or of the steps to the end of a
    decay patience started (the most of them; 0 when there is none); `n_batches`: the updates
    in an epoch."""
    parts = []
    if cfg.max_steps:
        parts.append(state.step / cfg.max_steps)
    if cfg.max_epochs:
        parts.append((state.epoch + state.batch_in_epoch / max(1, n_batches)) / cfg.max_epochs)
    if cfg.max_minutes:
        parts.append(state.elapsed / (60 * cfg.max_minutes))
    if state.decay_until:  # the budget patience set (start_decay_early)
        parts.append(state.step / state.decay_until)
    return max(parts, default=0.0)


def start_decay_early(cfg: TrainConfig, state: TrainState, progress: float) -> bool:
    """Under wsd, when validation has not improved for `patience` validations before the
    budget's own decay (`progress`: budget_progress), set the step the decay ends at: the
    decay starts now, as if the budget ended there, and patience counts anew. Returns whether
    it started."""
    f = cfg.decay_fraction
    if (cfg.schedule != "wsd" or not f or not cfg.patience or state.decay_until
            or state.bad_evals < cfg.patience or progress >= 1.0 - f):
        return False
    state.decay_until = math.ceil(round(state.step / (1.0 - f), 6))  # (21 / 0.7: 30, not 31)
    state.bad_evals = 0
    return True


def budget_stop_reason(cfg: TrainConfig, state: TrainState) -> str:
    """Why the run stops after this update: its steps or minutes are spent, the decay patience
    started has ended, or validation stopped improving (`patience`: under wsd, during that
    decay or the budget's own); "" when it goes on (epochs: `epochs_stop_reason`)."""
    if cfg.max_steps and state.step >= cfg.max_steps:
        return f"reached {cfg.max_steps} steps"
    if cfg.max_minutes and state.elapsed >= 60 * cfg.max_minutes:
        return f"reached {cfg.max_minutes:g} minutes"
    if state.decay_until and state.step >= state.decay_until:
        return (f"early stopping: no BLEU gain in {cfg.patience} validations, then the "
                f"learning rate's decay (wsd) to step {state.decay_until}")
    if cfg.patience and state.bad_evals >= cfg.patience:
        return f"early stopping: no BLEU gain in {cfg.patience} validations"
    return ""


def epochs_stop_reason(cfg: TrainConfig, epoch: int) -> str:
    """Why the run stops once `epoch` epochs are done ("" when it goes on)."""
    if cfg.max_epochs and epoch >= cfg.max_epochs:
        return f"reached {cfg.max_epochs} epochs"
    return ""
