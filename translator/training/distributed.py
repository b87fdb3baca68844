"""Data parallel training across processes and machines with torchrun and PyTorch's DDP.

`torchrun --nproc-per-node N -m translator train ...` starts N ranks; each reads WORLD_SIZE,
RANK and LOCAL_RANK from its environment and joins the process group (gloo on the CPU, NCCL on
CUDA). The trainer wraps its model in `DistributedDataParallel`, which averages the gradients
of every update across ranks; this module holds the rest: who is who, and the few small
collectives the trainer needs (token counts, stop decisions, RNG states for exact resume, the
barrier of a clean exit). A process started without torchrun is one rank of one, and every
collective is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch


@dataclass(frozen=True)
class Ranks:
    """This process' place in the run: its rank, the number of ranks, its rank on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 validates, writes checkpoints, the metrics log and the plot."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls, device_type: str, timeout_minutes: float) -> Ranks:
        """Join the process group torchrun set up (WORLD_SIZE > 1), else one rank of one.

        `timeout_minutes` bounds every collective: rank 0's validation and the first local
        rank's data preparation happen while the others wait in one.
        """
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo",
                                    timeout=timedelta(minutes=timeout_minutes))
        return cls(dist.get_rank(), dist.get_world_size(), local_rank)

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sums over ranks (float64, so token counts stay exact)."""
        if not self.distributed:
            return values
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, value) -> list:
        """Every rank's `value` (picklable), in rank order."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        out: list = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        """Wait until every rank is here, for at most the group's timeout
        (`train.dist_timeout_minutes`)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        if dist.get_backend() == "nccl":  # NCCL would otherwise guess which GPU to sync on
            dist.barrier(device_ids=[self.local_rank])
        else:
            dist.barrier()

    def close(self, success: bool) -> None:
        """Leave the process group: the last thing a rank does with it.

        On success every rank first meets the others at a barrier, so no rank tears down its
        end of the group while rank 0 still writes (a peer gone early can abort a rank's gloo
        threads, and torchrun then reports a run that succeeded as failed). After a failure
        there is no barrier: a rank that crashed never arrives, and the others must not wait
        for it. Drop every module and object that holds the group (DDP) before this.
        """
        if not self.distributed:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            return
        try:
            if success:
                self.barrier()
        finally:
            dist.destroy_process_group()
