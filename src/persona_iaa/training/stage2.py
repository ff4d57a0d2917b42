"""Stage 2 as pure functions over frozen outputs: the solvers for the inter-task weights ``w``.

Why pure: nothing before ``w`` changes in stage 2, so the aesthetic outputs s_a, the personality outputs
s_p and the targets are computed once and every solver works on arrays. The trainer only calls these;
personalisation calls the same solvers per person (with a prior and an offset), so they must not depend
on the trainer, a model or a data loader.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ..models.pdmtl import final_score


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
