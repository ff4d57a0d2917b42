"""The paper's three Euclidean losses (eqs. 2, 4 and 6), as values a task carries.

Why objects and not module functions chosen by a task string: the loop calls ``task.loss`` (see
:class:`persona_iaa.training.step.Task`), so a study that changes a loss, its reduction or its weight
passes a :class:`Losses` to the trainer instead of patching this module.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import TrainingError

#: What a loss is: (predicted, target) -> a scalar tensor.
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

REDUCTIONS = ("mean", "sum")


def score_mse(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a score against the normalised mean score (computed in fp32)."""
    return F.mse_loss(predicted.float(), target.float().reshape(predicted.shape))


@dataclasses.dataclass(frozen=True)
class EuclideanLoss:
    """Squared error per image, reduced over its outputs, averaged over images, times ``weight``.

    ``reduction`` says what happens over the outputs of one image: ``"mean"`` for one score (L_a, L),
    ``"sum"`` over the five traits (L_p, eq. 4). Computed in fp32 whatever the autocast precision, so a
    non-finite loss always means divergence, never a rounding artefact.
    """

    reduction: str = "mean"
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, not {self.reduction!r}")

    def __call__(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.reduction == "mean":
            loss = score_mse(predicted, target)
        else:
            loss = (predicted.float() - target.float().reshape(predicted.shape)).pow(2).sum(dim=1).mean()
        return loss if self.weight == 1.0 else loss * self.weight


#: L_a (eq. 2): MSE of s_a. L (eq. 6): MSE of the final score s = s_a + w . s_p. The same criterion.
aesthetic_loss = EuclideanLoss("mean")
final_loss = EuclideanLoss("mean")
#: L_p (eq. 4): squared error summed over the five traits, averaged over images.
personality_loss = EuclideanLoss("sum")


@dataclasses.dataclass(frozen=True)
class Losses:
    """The three losses a run trains with; the paper's by default. Give the trainer others to change them."""

    aesthetic: LossFn = aesthetic_loss
    personality: LossFn = personality_loss
    final: LossFn = final_loss


class NonFiniteLoss(TrainingError):
    """A loss became NaN or infinite: where (global step, loss name) and what value."""

    def __init__(self, step: int, name: str, value: float):
        super().__init__(f"the {name} loss became {value} at step {step}")
        self.step, self.name, self.value = step, name, value
