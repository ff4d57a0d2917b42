"""A person's weights from a few of their ratings: the stage-2 least squares, per person, with a prior.

Why standardise: people use a rating scale differently (offset *and* spread), and a CSV may use any
scale. Each person's ratings are standardised and placed on the generic score's scale over the same
images (its mean and standard deviation there), so one prior strength fits everyone.

Why a free weight on s_a: how much a person's ratings follow the generic aesthetic head is personal
too. The fit is :func:`persona_iaa.training.stage2.fit_lstsq` over six columns ``[s_a, s_p]`` with an
offset, pulled toward the prior coefficients ``[a, v]`` (from the person's traits, or ``[1, w]``, the
generic model); ``alpha s_a + v . s_p + b`` is then divided by ``alpha`` so the personal score keeps
eq. (5)'s form ``s_a + w_u . s_p + b_u`` with ``w_u = v / alpha`` (same ranking; ``alpha`` is kept
at or above ``MIN_ALPHA``). On the people world (:mod:`.world`) with idealised outputs this raised the
mean SROCC with 100 ratings from 0.659 (s_a's weight fixed at 1) to 0.699, with 10 from 0.589 to 0.597.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ..errors import DataError
from ..models.pdmtl import final_score
from ..training.stage2 import FrozenOutputs, fit_lstsq
from .profile import PersonalWeights, as_weights

#: Fewest ratings ``personalize fit`` accepts: with fewer, five weights and an offset are mostly prior.
MIN_RATINGS = 5
#: The prior's strength without a calibration, in ratings' worth (see :func:`ridge_for`).
DEFAULT_PRIOR_STRENGTH = 3.0


@dataclasses.dataclass(frozen=True)
class PersonData:
    """The model's outputs on one person's rated images, their ratings and traits (when known)."""

    user: str
    aesthetic: np.ndarray  # [n]
    personality: np.ndarray  # [n, 5]
    ratings: np.ndarray  # [n], the person's own scale
    traits: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.ratings)

    def subset(self, index: np.ndarray) -> "PersonData":
        return PersonData(
            self.user, self.aesthetic[index], self.personality[index], self.ratings[index], self.traits
        )

    def generic(self, weights: np.ndarray) -> np.ndarray:
        return final_score(self.aesthetic, self.personality, weights)

    def columns(self) -> np.ndarray:
        """``[s_a, s_p]``, the six columns a person's coefficients apply to."""
        return np.hstack([self.aesthetic[:, None], self.personality])


def rating_targets(ratings: np.ndarray, generic: np.ndarray) -> np.ndarray:
    """Ratings standardised, then put on the generic score's scale (its mean and SD on the same images)."""
    spread = float(np.std(ratings))
    if spread == 0:
        raise DataError(
            "the ratings are all equal: they say nothing about taste; rate better and worse photos"
        )
    return float(np.mean(generic)) + float(np.std(generic)) * (ratings - np.mean(ratings)) / spread


def ridge_for(strength: float, columns: np.ndarray) -> float:
    """``ridge`` worth ``strength`` ratings: the prior weighs as much as that many images."""
    return float(strength) * float(np.mean(np.var(columns, axis=0)))


def generic_coefficients(generic_weights: np.ndarray) -> np.ndarray:
    """The generic model as six coefficients: 1 on s_a, its inter-task weights on s_p."""
    return np.concatenate([[1.0], np.asarray(generic_weights, dtype=np.float64)])


def fit_person(
    person: PersonData, generic_weights: np.ndarray, prior: np.ndarray, ridge: float
) -> PersonalWeights:
    """Weights and offset for one person from their ratings, pulled toward the six ``prior`` coefficients."""
    target = rating_targets(person.ratings, person.generic(generic_weights))
    columns = person.columns()
    fit = fit_lstsq(
        FrozenOutputs(np.zeros(len(person)), columns, target), prior=prior, ridge=ridge, fit_offset=True
    )
    return as_weights(fit.weights, fit.offset, "fitted")
