"""Validation during training: the loss per target token under teacher forcing, and what a
validation's result does to the run (its place in the training state: the best BLEU so far,
the validations without gain that early stopping counts; the log record and the line shown)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from tqdm import tqdm

from translator.data.batching import token_budget_batches, training_batch
from translator.training.state import TrainState


def teacher_forced_loss(loss: Callable[[dict], tuple[torch.Tensor, int]],
                        src_ids: list[list[int]], tgt_ids: list[list[int]], batch_tokens: int,
                        device: torch.device) -> float:
    """Loss per target token of the pairs, in batches of `batch_tokens`; `loss` gives a
    batch's summed loss and its token count."""
    total, ntok = 0.0, 0
    lengths = [max(len(a), len(b)) + 1 for a, b in zip(src_ids, tgt_ids)]
    with torch.no_grad():
        for idx in token_budget_batches(lengths, batch_tokens):
            batch = training_batch([src_ids[i] for i in idx], [tgt_ids[i] for i in idx])
            batch = {k: v.to(device) for k, v in batch.items()}
            summed, n = loss(batch)
            total, ntok = total + float(summed), ntok + n
    return total / max(1, ntok)


def record_validation(state: TrainState, result: dict, seconds: float,
                      write_record: Callable[[dict], None]) -> bool:
    """Book a validation `result` ({"loss", "bleu"}) of the state's step, `seconds` long: a
    new best or one more without gain, the log's `valid` record and a line on stderr.
    Returns whether it is the best so far."""
    state.validated_step = state.step
    improved = result["bleu"] > state.best_bleu
    if improved:
        state.best_bleu, state.best_step, state.bad_evals = result["bleu"], state.step, 0
    else:
        state.bad_evals += 1
    write_record({"type": "valid", "step": state.step, "epoch": state.epoch,
                  "loss": result["loss"], "bleu": result["bleu"], "best_bleu": state.best_bleu,
                  "elapsed": state.elapsed, "seconds": seconds})
    tqdm.write(f"step {state.step}: val loss {result['loss']:.3f} BLEU {result['bleu']:.2f}"
               f"{' (best)' if improved else ''}", file=sys.stderr)
    return improved
