"""Reporting during training: `MetricsLog`, the run's log of records (metrics.jsonl), and
`ProgressReport`, the progress bar and the log's `train` records, each the mean loss and the
tokens/s of the window of updates since the one before."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from translator.config import TrainConfig
from translator.training.state import TrainState


class MetricsLog:
    """The run's metrics.jsonl, one JSON record a line (a `type` and mostly a `step`), which
    rank 0 alone writes: `enabled` is false on the other ranks."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def clear(self) -> None:
        """A fresh run starts a fresh log."""
        if self.enabled:
            self.path.write_text("")

    def truncate(self, step: int) -> None:
        """Drop the records after `step`, the checkpoint a run resumes from (they will be
        redone)."""
        if not self.enabled or not self.path.exists():
            return
        lines = [ln for ln in self.path.read_text().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
        self.path.write_text("".join(ln + "\n" for ln in kept))


class ProgressReport:
    """The progress bar (tqdm; off when not `show`) and the `train` records, one every
    `log_every` updates and one after the first, handed to `write_record`."""

    def __init__(self, train: TrainConfig, step: int, show: bool,
                 write_record: Callable[[dict], None]):
        self.train, self.write_record = train, write_record
        self.bar = tqdm(total=train.max_steps or None, initial=step, disable=not show,
                        unit="step", dynamic_ncols=True, desc="train")
        self._new_window()

    def _new_window(self) -> None:
        self.window_tokens, self.window_loss, self.window_steps = 0, 0.0, 0
        self.window_start = time.perf_counter()

    def update(self, state: TrainState, tokens: int, loss: float, lr: float,
               now: float) -> None:
        """After an update of `tokens` target tokens (over all ranks) with a `loss` per token,
        ended at `now` (time.perf_counter)."""
        self.window_tokens += tokens
        self.window_loss += loss
        self.window_steps += 1
        self.bar.update(1)
        if state.step % self.train.log_every == 0 or state.step == 1:
            self._report(state, lr, now)

    def _report(self, state: TrainState, lr: float, now: float) -> None:
        """The window's record and the bar's figures; then a new window."""
        speed = self.window_tokens / max(1e-9, now - self.window_start)
        loss = self.window_loss / self.window_steps
        self.write_record({"type": "train", "step": state.step, "epoch": state.epoch,
                           "loss": loss, "lr": lr, "tokens_per_s": speed,
                           "elapsed": state.elapsed})
        postfix = dict(loss=f"{loss:.3f}", tok_s=f"{speed:,.0f}", lr=f"{lr:.2e}",
                       ep=state.epoch)
        if self.train.max_minutes:
            left = max(0, 60 * self.train.max_minutes - state.elapsed)
            postfix["left"] = f"{int(left // 60)}:{int(left % 60):02d}"
        self.bar.set_postfix(postfix)
        self._new_window()

    def close(self) -> None:
        self.bar.close()
