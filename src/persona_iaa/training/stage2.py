"""Stage 2 as pure functions over frozen outputs: the solvers for the inter-task weights ``w``.

Why pure: nothing before ``w`` changes in stage 2, so the aesthetic outputs s_a, the personality outputs
s_p and the targets are computed once and every solver works on arrays. The trainer only calls these;
personalisation calls the same solvers per person (with a prior and an offset), so they must not depend
on the trainer, a model or a data loader.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from ..models.pdmtl import final_score
from ..runtime import derive_seed
from .losses import LossFn, NonFiniteLoss, final_loss
from .step import sgd

#: The random stream (derived from the seed) that orders stage-2 batches.
STREAM_STAGE2 = 2
#: The random stream of the training transform's crops when stage 2 recomputes its inputs every epoch.
STREAM_STAGE2_INPUTS = 3


@dataclasses.dataclass(frozen=True)
class FrozenOutputs:
    """The model's outputs on a set of images and their targets: everything a stage-2 solver sees."""

    aesthetic: np.ndarray  # [N] s_a
    personality: np.ndarray  # [N, 5] s_p
    target: np.ndarray  # [N] the score to fit

    def __post_init__(self) -> None:
        n = len(self.target)
        if len(self.aesthetic) != n or self.personality.shape[:1] != (n,):
            raise ValueError(f"frozen outputs disagree in length: {len(self.aesthetic)}, "
                             f"{self.personality.shape[0]}, {n}")

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, index: np.ndarray) -> "FrozenOutputs":
        return FrozenOutputs(self.aesthetic[index], self.personality[index], self.target[index])


@dataclasses.dataclass(frozen=True)
class Stage2Fit:
    """A solver's answer: the weights, an offset (0 unless fitted) and the loss after each epoch."""

    weights: np.ndarray  # [5]
    offset: float = 0.0
    loss_curve: tuple[float, ...] = ()


def final_mse(frozen: FrozenOutputs, weights: np.ndarray, offset: float = 0.0) -> float:
    """L of stage 2: the mean squared error of the final score (eq. 5) against the targets."""
    predicted = final_score(frozen.aesthetic, frozen.personality, weights, offset)
    return float(np.mean((predicted - np.asarray(frozen.target, dtype=np.float64)) ** 2))


def fit_lstsq(
    frozen: FrozenOutputs,
    *,
    prior: Optional[np.ndarray] = None,
    ridge: float = 0.0,
    fit_offset: bool = False,
) -> Stage2Fit:
    """``w`` minimising ``sum_i (s_a_i + w . s_p_i + b - t_i)^2 + ridge * |w - prior|^2`` exactly.

    With the defaults this is eq. (6) of the paper: plain least squares, no offset. Personalisation
    sets ``prior`` (the generic or trait-predicted weights), ``ridge`` (how strongly a few ratings are
    pulled toward it) and ``fit_offset`` (people use the scale differently); the offset is not penalised.
    """
    p = np.asarray(frozen.personality, dtype=np.float64)
    residual = np.asarray(frozen.target, dtype=np.float64) - np.asarray(frozen.aesthetic, dtype=np.float64)
    prior_w = np.zeros(p.shape[1]) if prior is None else np.asarray(prior, dtype=np.float64)
    design = np.hstack([p, np.ones((len(p), 1))]) if fit_offset else p
    target = residual - p @ prior_w  # solve for the deviation from the prior
    if ridge > 0:
        penalty = np.sqrt(ridge) * np.eye(design.shape[1])
        if fit_offset:
            penalty[-1, -1] = 0.0
        design = np.vstack([design, penalty])
        target = np.concatenate([target, np.zeros(design.shape[1])])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    weights = prior_w + solution[: p.shape[1]]
    offset = float(solution[-1]) if fit_offset else 0.0
    return Stage2Fit(weights, offset, (final_mse(frozen, weights, offset),))


def sgd_converged(stage2: dict[str, Any], tolerance: float = 0.05) -> bool:
    """Whether stage-2 SGD came within ``tolerance`` of the way from w = 0 to the least-squares optimum.

    ``stage2`` is a run's stage-2 summary (``test_metrics.json`` -> ``stage2``). Why a share of the way:
    with the paper's settings SGD often barely moves ``w``; an absolute MSE gap would hide that on
    datasets whose scores vary little.
    """
    gap = max(stage2["train_mse_without_w"] - stage2["lstsq_train_mse"], 1e-12)
    return bool(stage2["train_mse"] <= stage2["lstsq_train_mse"] + tolerance * gap)


@dataclasses.dataclass(frozen=True)
class SGDSettings:
    """The paper's stage 2: SGD on ``w`` alone, with momentum, weight decay and a decay per epoch."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_decay: float = 0.9


@dataclasses.dataclass
class SGDState:
    """Where an SGD fit stands after ``epoch`` epochs: enough to continue it bit for bit."""

    epoch: int
    weights: torch.Tensor  # [5] float32
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class SGDEpoch:
    """What an epoch of :func:`fit_sgd` reports: its learning rate, its mean loss, the state after it."""

    epoch: int
    lr: float
    loss: float
    state: SGDState


def _sgd(w: nn.Parameter, settings: SGDSettings) -> tuple[torch.optim.SGD, Any]:
    optimizer = sgd([("inter_task", [w], settings.lr)], momentum=settings.momentum,
                    weight_decay=settings.weight_decay)
    return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.lr_decay)


def sgd_start(settings: SGDSettings, weights: np.ndarray | torch.Tensor) -> SGDState:
    """A fit that has not begun: ``weights`` to start from (the model's are zeros) and a fresh optimiser."""
    w = nn.Parameter(torch.as_tensor(weights, dtype=torch.float32).detach().clone())
    optimizer, scheduler = _sgd(w, settings)
    return SGDState(0, w.detach().clone(), optimizer.state_dict(), scheduler.state_dict())


def _epoch_loss(losses: list[torch.Tensor], sizes: list[int], first_step: int) -> float:
    """Mean loss over an epoch's images (one host sync); a non-finite loss names its step."""
    total, images = 0.0, 0
    for i, (value, size) in enumerate(zip(torch.stack(losses).cpu().tolist(), sizes)):
        if not np.isfinite(value):
            raise NonFiniteLoss(first_step + i + 1, "final", value)
        total, images = total + value * size, images + size
    return total / images


def fit_sgd(frozen: FrozenOutputs, settings: SGDSettings, seed: int, *, loss: LossFn = final_loss,
            start: Optional[SGDState] = None, on_epoch: Optional[Callable[[SGDEpoch], None]] = None,
            device: str | torch.device = "cpu",
            epoch_outputs: Optional[Callable[[int], FrozenOutputs]] = None) -> Stage2Fit:
    """``w`` fitted by minibatch SGD on L (eq. 6) over frozen outputs: the paper's stage 2.

    Each epoch visits the outputs in an order derived from (``seed``, epoch) alone, so a fit continued
    from ``start`` (an :class:`SGDState` an earlier ``on_epoch`` reported) ends where an uninterrupted
    one does. ``on_epoch`` sees every finished epoch (the trainer logs, checkpoints and stops there).
    ``epoch_outputs(epoch)``, when given, replaces ``frozen`` for that epoch (``train.stage2_inputs:
    augmented``: the outputs of freshly augmented images, as a literal reading of the paper's stage 2).
    Raises :class:`~persona_iaa.training.losses.NonFiniteLoss` when the loss diverges. The loss curve
    holds the epochs this call ran.
    """
    device = torch.device(device)
    start = start or sgd_start(settings, np.zeros(frozen.personality.shape[1]))

    def tensors(outputs: FrozenOutputs) -> tuple[torch.Tensor, ...]:
        return tuple(torch.as_tensor(np.asarray(x), dtype=torch.float32).to(device)
                     for x in (outputs.aesthetic, outputs.personality, outputs.target))

    s_a, s_p, target = tensors(frozen)
    w = nn.Parameter(start.weights.detach().clone().to(device=device, dtype=torch.float32))
    optimizer, scheduler = _sgd(w, settings)
    optimizer.load_state_dict(start.optimizer)
    scheduler.load_state_dict(start.scheduler)
    steps_per_epoch = -(-len(target) // settings.batch_size)
    curve = []
    for epoch in range(start.epoch + 1, settings.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        if epoch_outputs is not None:
            s_a, s_p, target = tensors(epoch_outputs(epoch))
        generator = torch.Generator().manual_seed(derive_seed(seed, STREAM_STAGE2, epoch))
        order = torch.randperm(len(target), generator=generator).to(device)
        losses, sizes = [], []
        for first in range(0, len(order), settings.batch_size):
            idx = order[first:first + settings.batch_size]
            value = loss(final_score(s_a[idx], s_p[idx], w), target[idx])
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            losses.append(value.detach().float().reshape(()))
            sizes.append(len(idx))
        curve.append(_epoch_loss(losses, sizes, (epoch - 1) * steps_per_epoch))
        scheduler.step()
        if on_epoch is not None:
            state = SGDState(epoch, w.detach().cpu().clone(), optimizer.state_dict(), scheduler.state_dict())
            on_epoch(SGDEpoch(epoch, lr, curve[-1], state))
    return Stage2Fit(w.detach().cpu().double().numpy(), 0.0, tuple(curve))
