"""torchrun / DistributedDataParallel glue: one process per device, nccl on GPUs, gloo on CPUs.

``torchrun --nproc-per-node N -m persona_iaa train ...`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``;
:func:`init_distributed` reads them and joins the process group (a plain ``persona-iaa train`` is a
world of one and needs no process group). Only rank 0 writes files; every rank computes the same
metrics from gathered predictions, so every rank takes the same decisions.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any, Sequence, TypeVar, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError
from ..runtime import resolve_device

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the number of processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank (picklable objects)."""
        if not self.distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over ranks (a NaN on any rank stays a NaN)."""
        if self.distributed:
            values = values.to(self.device)
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on at least one."""
        return bool(self.all_sum(torch.tensor([float(flag)])).item() > 0)

    def broadcast_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Overwrite ``tensors`` in place with rank 0's values."""
        if self.distributed:
            for tensor in tensors:
                dist.broadcast(tensor.data, src=0)

    def per_rank(self, global_batch: int, key: str) -> int:
        """Each rank's share of a global batch size, which must split evenly."""
        if global_batch % self.world_size:
            raise ConfigError(f"{key}={global_batch} is the global batch size and must divide evenly over "
                              f"{self.world_size} processes")
        return global_batch // self.world_size


def unshard(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Undo :func:`persona_iaa.data.loading.shard`: rank r's i-th row is row ``r + i * W`` of the whole."""
    world, filled = len(parts), [p for p in parts if len(p)]
    if not filled:
        return parts[0]
    joined = np.empty((sum(len(p) for p in parts),) + filled[0].shape[1:], dtype=filled[0].dtype)
    for rank, part in enumerate(parts):
        joined[rank::world] = part
    return joined


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


def init_distributed(device_name: str = "auto") -> DistContext:
    """Read torchrun's environment, pick this rank's device and join the process group once."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world_size == 1:
        return DistContext(device=device)
    rank, local_rank = launched_rank(), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices: "
                              "--nproc-per-node must not exceed the GPUs of a node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return DistContext(rank, world_size, local_rank, device)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_for_training(module: nn.Module, ctx: DistContext, *, sync_batchnorm: bool,
                      compile_module: bool) -> nn.Module:
    """DDP (when several processes) and ``torch.compile`` (when asked) around the training forward.

    ``find_unused_parameters``: a step computes one head only, so the other head's parameters get no
    gradient; DDP then leaves their ``.grad`` unset, exactly as on one process (no weight decay or
    momentum step for the idle head). SyncBatchNorm (CUDA only) makes batch statistics those of the
    global batch, as on one GPU.
    """
    if ctx.distributed:
        if sync_batchnorm and ctx.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        module = nn.parallel.DistributedDataParallel(
            module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
            find_unused_parameters=True)
    if compile_module:
        return cast(nn.Module, torch.compile(module))
    return module


def sync_buffers(module: nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's BatchNorm running statistics (they drift apart without SyncBatchNorm)."""
    ctx.broadcast_(list(module.buffers()))

