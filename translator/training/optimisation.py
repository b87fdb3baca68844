"""The parts of an optimisation update: the optimizer and AMP's loss scaler a run makes, DDP
around the model under torchrun, the label-smoothed loss of a batch, and the optimizer's step
once the gradients are in. (`Trainer._train_step` puts them together.)"""

from __future__ import annotations

import torch

from translator.config import TrainConfig
from translator.data.vocab import PAD_ID
from translator.model.loss import fused_linear_smoothed_ce
from translator.model.seq2seq import Seq2Seq
from translator.training.distributed import Ranks


def make_optimizer(model: Seq2Seq, train: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=train.lr,
                            betas=(train.adam_beta1, train.adam_beta2),
                            weight_decay=train.weight_decay)


def make_scaler(device: torch.device, train: TrainConfig,
                saved: dict | None) -> torch.amp.GradScaler | None:
    """AMP's loss scaler on CUDA (None elsewhere, or with `amp` off), from a resumed run's
    `saved` state if it has one."""
    if device.type != "cuda" or not train.amp:
        return None
    scaler = torch.amp.GradScaler("cuda")
    if saved:
        scaler.load_state_dict(saved)
    return scaler


def parallel(model: Seq2Seq, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """The module the training steps run: under torchrun, DDP around the model."""
    if not ranks.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def batch_loss(net: torch.nn.Module, model: Seq2Seq, batch: dict,
               label_smoothing: float) -> tuple[torch.Tensor, int]:
    """Label-smoothed cross-entropy summed over real target tokens, and their count; `net`
    runs `model` (DDP around it, or the model itself), whose output layer the loss applies."""
    vectors = net(batch["src"], batch["src_lens"], batch["tgt_in"])  # (B, T, A)
    real = batch["tgt_out"] != PAD_ID  # (B, T)
    weight, bias = model.output_layer()
    loss = fused_linear_smoothed_ce(vectors[real], weight, bias, batch["tgt_out"][real],
                                    eps=label_smoothing)
    return loss, int(real.sum())


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                   model: Seq2Seq, clip_norm: float) -> None:
    """Apply the accumulated gradients: unscaled (AMP), clipped to `clip_norm`, then the
    optimizer's step (through `scaler`, which skips a step of inf or NaN gradients)."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
