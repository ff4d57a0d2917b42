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
