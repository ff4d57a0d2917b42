"""Deterministic shares of a collection, for scoring across processes, GPUs, nodes or job-array tasks.

Why contiguous blocks of the expanded input list: every share is computed from the same sorted expansion,
so any process (a torchrun rank, a SLURM array task, a rerun with ``--resume``) finds the same share
without talking to the others, and the merged output is the shares concatenated in shard order, which is
exactly the input order of a one-process run.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Sequence, TypeVar, Union

from ..errors import ConfigError

T = TypeVar("T")

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class Shard:
    """Share ``index`` of ``count`` (0-based), as ``--shard I/N`` or a torchrun rank names it."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"--shard {self.index}/{self.count}: needs 0 <= I < N (I counts from 0)")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        match = _SHARD.match(text)
        if not match:
            raise ConfigError(f"--shard {text!r}: write it as I/N, e.g. 0/4 for the first of four shares")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def from_torchrun(cls) -> "Shard":
        """This process's share under torchrun (RANK / WORLD_SIZE), the whole collection otherwise."""
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))

    @property
    def whole(self) -> bool:
        return self.count == 1

    def bounds(self, total: int) -> tuple[int, int]:
        """[start, stop) of this share of ``total`` items: sizes differ by at most one."""
        return self.index * total // self.count, (self.index + 1) * total // self.count

    def select(self, items: Sequence[T]) -> list[T]:
        start, stop = self.bounds(len(items))
        return list(items[start:stop])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def part_path(output: Union[str, Path], shard: Shard) -> Path:
    """Where a torchrun rank streams its part of ``output``: ``scores.csv`` -> ``scores.part-0-of-4.csv``."""
    path = Path(output)
    return path.with_name(f"{path.stem}.part-{shard.index}-of-{shard.count}{path.suffix}")


def under_torchrun() -> bool:
    """True in a process started by torchrun with more than one rank (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank_device(device: str = "auto") -> str:
    """This rank's own device: ``cuda:LOCAL_RANK`` when CUDA is asked for (or ``auto`` finds it), else CPU.

    More ranks than GPUs share them round-robin rather than fail on a GPU that is not there.
    """
    import torch

    if device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    return "cpu" if device == "auto" else device


#: How long ranks wait for the slowest share at the barrier (a share can take hours on a big archive).
BARRIER_TIMEOUT_HOURS = 72.0


class RankGroup:
    """The torchrun process group, only for barriers: gloo works on every machine, CPU or GPU.

    Why only barriers: ranks exchange no tensors; each streams its own part file, and rank 0 merges
    the parts once every rank has passed the barrier.
    """

    def __init__(self, timeout_hours: float = BARRIER_TIMEOUT_HOURS):
        import datetime

        import torch.distributed as dist

        self._dist = dist
        self._owned = not dist.is_initialized()
        if self._owned:
            dist.init_process_group("gloo", timeout=datetime.timedelta(hours=timeout_hours))
        self.rank = dist.get_rank()

    def barrier(self) -> None:
        self._dist.barrier()

    def close(self) -> None:
        if self._owned and self._dist.is_initialized():
            self._dist.destroy_process_group()


def default_precision(device: str = "auto") -> str:
    """bf16 on CUDA GPUs with bf16 units (Ampere and newer: several times the fp32 speed), else fp32.

    Why not bf16 on CPUs too: only CPUs with AVX-512 BF16 / AMX gain from it, so there it stays opt-in.
    """
    import torch

    from ..runtime import resolve_device

    resolved = resolve_device(device)
    return "bf16" if resolved.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
