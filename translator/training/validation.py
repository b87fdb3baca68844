"""Validation during training: the loss per target token under teacher forcing and the BLEU of
each direction (one for a run of one pair, every direction of a multilingual run, whose means
decide), and what a validation's result does to the run (its place in the training state: the
best BLEU so far, the validations without gain that early stopping counts; the log record and
the line shown)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from tqdm import tqdm

from translator.data.batching import token_budget_batches, training_batch
from translator.evaluation.metrics import corpus_bleu
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


def evaluate_directions(translator, loss: Callable[[dict], tuple[torch.Tensor, int]],
                        sets: dict, batch_tokens: int, device: torch.device, beam_size: int = 1,
                        limit: int = 0) -> dict:
    """{"loss", "bleu"} of `translator` on every direction's pairs of `sets` ({"de-en":
    ParallelCorpus}, the first `limit` of each), the means over directions; with several,
    each direction's BLEU under "directions" too."""
    losses, scores = {}, {}
    for direction, corpus in sets.items():
        view = translator.for_pair(*direction.split("-", 1))
        src, tgt = corpus.src[: limit or None], corpus.tgt[: limit or None]
        losses[direction] = teacher_forced_loss(loss, view.source_ids(src),
                                                view.tgt_tok.encode(tgt), batch_tokens, device)
        scores[direction] = corpus_bleu(view.translate(src, beam_size=beam_size), tgt)
    result = {"loss": sum(losses.values()) / len(losses),
              "bleu": sum(scores.values()) / len(scores)}
    if len(scores) > 1:
        result["directions"] = {d: round(b, 2) for d, b in scores.items()}
    return result


def record_validation(state: TrainState, result: dict, seconds: float,
                      write_record: Callable[[dict], None]) -> bool:
    """Book a validation `result` ({"loss", "bleu"}) of the state's step, `seconds` long: a
    new best or one more without gain, the log's `valid` record and a line on stderr.
    Returns whether it is the best so far."""
    state.validated_step = state.step
    improved = result["bleu"] > state.best_bleu
    directions = result.get("directions")
    if improved:
        state.best_bleu, state.best_step, state.bad_evals = result["bleu"], state.step, 0
        state.best_directions = dict(directions or {})
    else:
        state.bad_evals += 1
    write_record({"type": "valid", "step": state.step, "epoch": state.epoch,
                  "loss": result["loss"], "bleu": result["bleu"], "best_bleu": state.best_bleu,
                  "elapsed": state.elapsed, "seconds": seconds,
                  **({"directions": directions} if directions else {})})
    each = (" (" + ", ".join(f"{d} {b:.1f}" for d, b in directions.items()) + ")"
            if directions else "")
    tqdm.write(f"step {state.step}: val loss {result['loss']:.3f} "
               f"{'mean ' if directions else ''}BLEU {result['bleu']:.2f}"
               f"{' (best)' if improved else ''}{each}", file=sys.stderr)
    return improved
