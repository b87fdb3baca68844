"""Run under torchrun by tests/test_distributed.py: a few updates of one fixed batch split
unevenly between the ranks, through the trainer's own update (`Trainer._train_step`); rank 0
saves the weights and losses to OUT for the test to compare with one process."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import SRC, TGT, step_config, step_parts  # noqa: E402

from translator.train import Trainer  # noqa: E402


def main(corpus: str, run_dir: str, out: str) -> None:
    trainer = Trainer(step_config(), corpus, SRC, TGT, run_dir, progress=False)
    parts = step_parts()
    mine = parts[trainer.ranks.rank]
    losses = []
    for _ in range(3):
        loss_sum, ntok, total = trainer._train_step([trainer.train_data.batch(mine)], 1e-2, None)
        losses.append(trainer.ranks.sum([loss_sum], trainer.device)[0] / total)
    if trainer.ranks.main:
        grads = {n: p.grad for n, p in trainer.model.named_parameters()}  # the last update's
        torch.save({"model": trainer.model.state_dict(), "losses": losses, "grads": grads}, out)
    trainer.ranks.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
