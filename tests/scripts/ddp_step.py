"""Run under torchrun by tests/test_distributed.py: a few updates of one fixed batch split
unevenly between the ranks, through the trainer's own update (`Trainer._train_step`); rank 0
saves the weights and losses to OUT for the test to compare with one process.

An optional fourth argument delays rank 0's save by that many seconds, so that the other ranks
reach `Trainer.close` long before rank 0's last write: the race of a distributed exit. Each
rank then writes OUT.closed.RANK, the time at which its `close` returned."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import SRC, TGT, step_config, step_parts  # noqa: E402

from translator.training.trainer import Trainer  # noqa: E402


def updates(trainer: Trainer) -> list[float]:
    """Three updates of this rank's part of the batch; each update's loss over all ranks."""
    mine = step_parts()[trainer.ranks.rank]
    losses = []
    for _ in range(3):
        loss_sum, ntok, total = trainer._train_step([trainer.train_data.batch(mine)], 1e-2, None)
        losses.append(trainer.ranks.sum([loss_sum], trainer.device)[0] / total)
    return losses


def save(trainer: Trainer, losses: list[float], out: str) -> None:
    grads = {n: p.grad for n, p in trainer.model.named_parameters()}  # the last update's
    torch.save({"model": trainer.model.state_dict(), "losses": losses, "grads": grads}, out)


def main(corpus: str, run_dir: str, out: str, save_delay: str = "0") -> None:
    trainer = Trainer(step_config(), corpus, SRC, TGT, run_dir, progress=False)
    finished = False
    try:
        losses = updates(trainer)
        if trainer.ranks.main:
            time.sleep(float(save_delay))  # the delay on purpose: the others close meanwhile
            save(trainer, losses, out)
        finished = True
    finally:
        trainer.close(success=finished)
    Path(f"{out}.closed.{trainer.ranks.rank}").write_text(repr(time.time()))


if __name__ == "__main__":
    main(*sys.argv[1:])
