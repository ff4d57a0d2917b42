"""One optimisation step of stage 1, used by the training loop and by ``bench/train_throughput.py``.

A *task* is a head plus the loss its batches train with (open_clip's ``TrainingTask`` idea): the loop
never chooses a loss by a task string, it calls ``task.loss``. A *step* is the batches the
:class:`~persona_iaa.training.schedule.AlternationSchedule` hands out, each one optimiser update
through the shared backbone and its task's head.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..data.records import AESTHETIC, PERSONALITY
from ..models.pdmtl import PersonalityDrivenIAA
from .losses import Losses, LossFn
from .precision import Precision


class TaskForward(nn.Module):
    """The shared backbone and the one head a batch trains: DDP then waits only for gradients that come."""

    def __init__(self, model: PersonalityDrivenIAA):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, task: str) -> torch.Tensor:
        features = self.model.backbone(images)
        if task == AESTHETIC:
            return self.model.aesthetic_head(features).squeeze(-1)
        return self.model.personality_head(features)


@dataclasses.dataclass(frozen=True)
class Task:
    """A stage-1 task: the head its batches go through (by name) and the loss they train with."""

    name: str
    loss: LossFn


def paper_tasks(losses: Losses) -> dict[str, Task]:
    """The two tasks of stage 1 with the given losses (L_a and L_p for the paper)."""
    return {AESTHETIC: Task(AESTHETIC, losses.aesthetic), PERSONALITY: Task(PERSONALITY, losses.personality)}


@dataclasses.dataclass
class StepContext:
    """Everything one update needs: the module to call (a :class:`TaskForward`, possibly wrapped by DDP
    or torch.compile), the optimiser, the precision, where the batches go, and the tasks by name."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    memory_format: torch.memory_format
    tasks: Mapping[str, Task]


@dataclasses.dataclass(frozen=True)
class BatchLoss:
    """What one batch of a step left: its task, its loss (still on the device) and its image count."""

    task: str
    loss: torch.Tensor
    images: int


def train_batch(ctx: StepContext, task: Task, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One optimiser update on one batch of ``task``, in the run's precision and memory format."""
    images = images.to(ctx.device, non_blocking=True, memory_format=ctx.memory_format)
    targets = targets.to(ctx.device, non_blocking=True)
    with ctx.precision.autocast():
        predicted = ctx.module(images, task.name)
    loss = task.loss(predicted, targets)
    ctx.precision.step(ctx.optimizer, loss)
    return loss.detach()


def train_step(ctx: StepContext, batches: Sequence[tuple[str, Any]]) -> list[BatchLoss]:
    """One stage-1 step: each ``(task name, (images, targets, ...))`` of the schedule's step, in order."""
    done = []
    for name, batch in batches:
        images, targets = batch[0], batch[1]
        done.append(BatchLoss(name, train_batch(ctx, ctx.tasks[name], images, targets), len(images)))
    return done


def set_trainable(model: PersonalityDrivenIAA, stage: int) -> None:
    """Stage 1 trains everything but the inter-task weights ``w``; stage 2 trains only ``w``."""
    for name, params in model.parameter_groups().items():
        for p in params:
            p.requires_grad_((stage == 1) != (name == "inter_task"))


def sgd(groups: Sequence[tuple[str, Sequence[nn.Parameter], float]], *, momentum: float,
        weight_decay: float) -> torch.optim.SGD:
    """The paper's optimiser: SGD with momentum and weight decay, one named group per learning rate."""
    param_groups = [{"params": list(params), "lr": lr, "name": name} for name, params, lr in groups]
    return torch.optim.SGD(param_groups, lr=groups[0][2], momentum=momentum, weight_decay=weight_decay)
