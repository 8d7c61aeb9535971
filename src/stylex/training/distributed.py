"""Multi-process training helpers (``torchrun``, one process per GPU, or several CPU processes).

Gradients are averaged explicitly after each phase's backward pass (as NVlabs' StyleGAN2 does)
instead of wrapping modules in DistributedDataParallel: the networks take part in several phases
per step, with different subsets of parameters, which DDP's hooks handle poorly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes checkpoints."""
        return self.rank == 0


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group set up by ``torchrun`` (environment ``WORLD_SIZE`` > 1).

    Uses NCCL for CUDA and gloo otherwise. Returns a single-process :class:`DistInfo` when
    the job was not started by torchrun.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank)


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> bool:
    """Average the gradients of ``params`` over all processes; return whether all are finite.

    Parameters without a gradient count as zero. The finiteness check runs on the averaged
    gradient, so every process takes the same skip/step decision.
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        return True
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.flatten() for p in params])
    if info.world_size > 1:
        dist.all_reduce(flat)
        flat /= info.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p))
            offset += n
    return bool(torch.isfinite(flat).all())


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if info.world_size <= 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def any_process(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any of them (one small all-reduce).

    Used for decisions each process could take differently (a wall-clock budget), which must agree
    or the processes would wait for each other forever.
    """
    if info.world_size <= 1:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_processes(value: torch.Tensor, info: DistInfo) -> float:
    """The mean of a scalar over all processes (one small all-reduce; the value itself with one process)."""
    if info.world_size <= 1:
        return float(value)
    t = value.detach().float().reshape(1).clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / info.world_size


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op in a single process)."""
    if info.world_size > 1:
        dist.barrier()
