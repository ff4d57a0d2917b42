"""One optimisation step of stage 1, used by the training loop and by ``bench/train_throughput.py``.

A *task* is a head plus the loss its batches train with (open_clip's ``TrainingTask`` idea): the loop
never chooses a loss by a task string, it calls ``task.loss``. A *step* is the batches the
:class:`~persona_iaa.training.schedule.AlternationSchedule` hands out, each one optimiser update
through the shared backbone and its task's head. A step can also *measure* (``train.log_grad_norms``):
each batch then leaves the norm of its gradient on the shared backbone, which shows which task drives
the shared layers; it stays on the device until the next report.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, Optional, Sequence

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
    or torch.compile), the optimiser, the precision, where the batches go, and the tasks by name;
    ``shared``: the parameters both tasks train (the backbone), whose gradient norm a measured step
    records."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    memory_format: torch.memory_format
    tasks: Mapping[str, Task]
    shared: Sequence[nn.Parameter] = ()


@dataclasses.dataclass(frozen=True)
class BatchLoss:
    """What one batch of a step left: its task, its loss (still on the device), its image count and, in
    a measured step, the norm of its gradient on the shared parameters (on the device as well)."""

    task: str
    loss: torch.Tensor
    images: int
    grad_norm: Optional[torch.Tensor] = None


def gradient_norm(params: Sequence[nn.Parameter]) -> torch.Tensor:
    """The L2 norm of the parameters' gradients taken together, as a tensor on their device (no host
    sync); a parameter without a gradient counts as zero."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device if params else None)
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6: one fused pass per device and dtype
        return torch.nn.utils.get_total_norm(grads).float()
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, dtype=torch.float32)
                                                 for g in grads]))


def train_batch(ctx: StepContext, task: Task, images: torch.Tensor, targets: torch.Tensor,
                on_gradients: Optional[Callable[[], None]] = None) -> torch.Tensor:
    """One optimiser update on one batch of ``task``, in the run's precision and memory format;
    ``on_gradients`` sees the batch's (unscaled) gradients before the update."""
    images = images.to(ctx.device, non_blocking=True, memory_format=ctx.memory_format)
    targets = targets.to(ctx.device, non_blocking=True)
    with ctx.precision.autocast():
        predicted = ctx.module(images, task.name)
    loss = task.loss(predicted, targets)
    ctx.precision.step(ctx.optimizer, loss, on_gradients)
    return loss.detach()


def _append_norm(into: list[torch.Tensor], params: Sequence[nn.Parameter]) -> None:
    into.append(gradient_norm(params))


def train_step(ctx: StepContext, batches: Sequence[tuple[str, Any]],
               measure: bool = False) -> list[BatchLoss]:
    """One stage-1 step: each ``(task name, (images, targets, ...))`` of the schedule's step, in order;
    with ``measure`` each batch also leaves its gradient norm on ``ctx.shared``."""
    done = []
    for name, batch in batches:
        images, targets = batch[0], batch[1]
        norms: list[torch.Tensor] = []
        hook = functools.partial(_append_norm, norms, ctx.shared) if measure else None
        loss = train_batch(ctx, ctx.tasks[name], images, targets, hook)
        done.append(BatchLoss(name, loss, len(images), norms[0] if norms else None))
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
