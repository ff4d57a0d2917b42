"""What a training checkpoint holds, as typed values: the position in stage 1, the kept epoch, stage 2.

Why typed: the loop, the checkpoint writer and the resume path all read the same state; named fields
make a missing or misspelt part an error where it is written, not a ``KeyError`` on resume. On disk a
checkpoint stays a plain dict of tensors and values (``torch.load(weights_only=True)`` reads it without
unpickling code); :func:`to_checkpoint` and :func:`from_checkpoint` convert, and a checkpoint written
before this layout (no ``version``) still loads.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Union

import numpy as np
import torch

from ..data.records import AESTHETIC, PERSONALITY
from ..errors import TrainingError
from .stage2 import FrozenOutputs

#: The layout written by this version; 1 is the untyped layout of earlier releases (same keys, no version).
CHECKPOINT_VERSION = 2
#: The paper's alternation, what checkpoints without a recorded schedule were trained with.
PAPER_PATTERN: tuple[str, ...] = (AESTHETIC, PERSONALITY)


@dataclasses.dataclass
class Stage1Position:
    """Where stage 1 stands; positions count global batches, so they hold for any number of ranks."""

    epoch: int = 1  # the epoch in progress (1-based)
    batch: int = 0  # global aesthetic batches done in it
    step: int = 0  # stage-1 steps done in all
    personality: int = 0  # items of the global personality stream consumed
    #: loss x images and images per loss name, over the epoch so far
    sums: dict[str, float] = dataclasses.field(default_factory=dict)
    images: dict[str, int] = dataclasses.field(default_factory=dict)

    def next_epoch(self) -> "Stage1Position":
        return dataclasses.replace(self, epoch=self.epoch + 1, batch=0, sums={}, images={})


@dataclasses.dataclass
class BestEpoch:
    """The epoch kept so far by the selection metric, with its weights (on the CPU)."""

    score: float = -float("inf")  # higher is better (errors are negated)
    epoch: Optional[int] = None
    state: Optional[dict[str, torch.Tensor]] = None

    def accepts(self, score: float) -> bool:
        """Whether an epoch scoring ``score`` replaces this one.

        Ties (and runs without validation, where every score is -inf) keep the later epoch.
        """
        return self.state is None or score >= self.score


@dataclasses.dataclass
class RunState:
    """What every checkpoint holds, whatever the stage: enough to continue the run bit for bit."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: Optional[dict[str, Any]]
    rng: list[dict[str, Any]]  # one entry per rank
    history: list[dict[str, Any]]  # the epoch rows logged so far
    world_size: int
    batch_size: int  # global aesthetic batch
    personality_batch_size: int  # global personality batch


@dataclasses.dataclass
class Stage1State:
    run: RunState
    position: Stage1Position
    best: BestEpoch
    #: the alternation trained with (None: not recorded, the paper's)
    schedule: Optional[tuple[str, ...]] = None

    stage: ClassVar[int] = 1

    @property
    def counter(self) -> int:
        """The number in the checkpoint's file name: stage-1 steps."""
        return self.position.step

    @property
    def log_x(self) -> int:
        """The checkpoint's place on the logs' axis (stage-1 steps, then those plus stage-2 epochs)."""
        return self.position.step

    def describe(self) -> str:
        return f"stage 1, epoch {self.position.epoch}, step {self.position.step}"


@dataclasses.dataclass
class Stage2State:
    run: RunState
    epoch: int  # stage-2 epochs done
    frozen: FrozenOutputs  # the stage-1 outputs stage 2 fits on
    stage1_steps: int

    stage: ClassVar[int] = 2

    @property
    def counter(self) -> int:
        return self.epoch

    @property
    def log_x(self) -> int:
        return self.stage1_steps + self.epoch

    def describe(self) -> str:
        return f"stage 2, after epoch {self.epoch}"


TrainingState = Union[Stage1State, Stage2State]
_FROZEN_KEYS = ("aesthetic", "personality", "target")


def to_checkpoint(state: TrainingState) -> dict[str, Any]:
    """The dict written to disk (the keys of version 1, plus ``version`` and ``schedule``)."""
    run = {f.name: getattr(state.run, f.name) for f in dataclasses.fields(RunState)}  # no deep copy
    out: dict[str, Any] = {"version": CHECKPOINT_VERSION, "stage": state.stage, **run}
    if isinstance(state, Stage1State):
        out["position"] = dataclasses.asdict(state.position)
        out["best"] = {"score": state.best.score, "epoch": state.best.epoch, "state": state.best.state}
        if state.schedule is not None:
            out["schedule"] = list(state.schedule)
    else:
        out["epoch"], out["stage1_steps"] = state.epoch, state.stage1_steps
        out["frozen"] = {k: torch.from_numpy(np.ascontiguousarray(getattr(state.frozen, k), dtype=np.float32))
                         for k in _FROZEN_KEYS}
    return out


def from_checkpoint(data: Mapping[str, Any], path: Union[str, Path]) -> TrainingState:
    """The typed state of a loaded checkpoint dict, or one line saying why it cannot be continued."""
    version = data.get("version", 1)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise TrainingError(f"{path}: written by a newer persona-iaa (checkpoint version {version}): "
                            "continue the run with that version")
    try:
        run = RunState(**{f.name: data[f.name] for f in dataclasses.fields(RunState)})
        if data["stage"] == 1:
            best = data["best"]
            return Stage1State(run, Stage1Position(**data["position"]),
                               BestEpoch(best["score"], best["epoch"], best["state"]),
                               tuple(data["schedule"]) if "schedule" in data else None)
        if data["stage"] == 2:
            frozen = FrozenOutputs(*(np.asarray(data["frozen"][k].numpy()) for k in _FROZEN_KEYS))
            return Stage2State(run, int(data["epoch"]), frozen, int(data["stage1_steps"]))
        raise KeyError("stage")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrainingError(f"{path}: not a checkpoint this version of persona-iaa can continue "
                            f"({type(exc).__name__}: {exc}): continue the run with the version that wrote "
                            "it, or train it again") from None


def rescale_learning_rates(optimizer: dict[str, Any], scheduler: dict[str, Any],
                           wanted: Mapping[str, float]) -> list[str]:
    """Learning rates given at resume replace the run's: the decay so far applies to the new ones.

    Works on the saved state dicts before they are loaded, so both stages (and a stage-2 fit that owns
    its optimiser) share it. Returns one note per changed group.
    """
    notes = []
    for i, group in enumerate(optimizer["param_groups"]):
        before, now = scheduler["base_lrs"][i], wanted[group["name"]]
        if now != before:
            group["lr"] *= now / before
            group["initial_lr"] = scheduler["base_lrs"][i] = now
            notes.append(f"learning rate of the {group['name']} group: {before:g} -> {now:g} "
                         f"(now {group['lr']:g} after this run's decay)")
    return notes
