"""Personal scores beside the generic ones: what ``score --profile`` and ``Predictor.personalize`` return.

Every result keeps the model's columns and gains ``personal`` (``s_a + w_u . s_p + b_u``, from the same
forward pass). Imports no training code, so the inference layer can use it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

import numpy as np

from ..inference.engine import ImageLike, ScoreResult
from .profile import Calibration, PersonalWeights, Profile, calibration_path, personal_weights

ProfileLike = Union[Profile, Mapping[str, Any], str, Path]


@dataclasses.dataclass
class PersonalResult(ScoreResult):
    """A :class:`ScoreResult` with the person's score; ``personal`` is None when the image failed."""

    personal: Optional[float] = None

    def as_row(self) -> dict[str, Any]:
        """The model's columns, then ``personal``, then ``error`` (kept last, as resuming expects)."""
        row = super().as_row()
        error = row.pop("error")
        row["personal"] = self.personal
        row["error"] = error
        return row


#: The output-file columns of a personal scoring run, in order.
PERSONAL_COLUMNS: tuple[str, ...] = tuple(PersonalResult("").as_row())


def as_profile(profile: ProfileLike) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, Mapping):
        return Profile.from_dict(profile)
    return Profile.load(profile)


def stored_calibration(weights_file: Optional[Path]) -> Optional[Calibration]:
    """The calibration stored beside a model's weights file, if any."""
    if weights_file is None:
        return None
    path = calibration_path(weights_file)
    return Calibration.load(path) if path.is_file() else None


class PersonalPredictor:
    """A predictor bound to one person: :meth:`score` yields :class:`PersonalResult` rows."""

    def __init__(self, predictor: Any, weights: PersonalWeights):
        self.predictor = predictor
        self.weights = weights

    def personal_score(self, aesthetic: float, personality: Iterable[float]) -> float:
        return float(self.weights.apply(np.array([aesthetic]), np.array([list(personality)]))[0])

    def score(
        self, images: Iterable[ImageLike], batch_size: Optional[int] = None
    ) -> Iterator[PersonalResult]:
        for r in self.predictor.engine.score(images, batch_size=batch_size):
            personal = self.personal_score(r.aesthetic, r.personality) if r.ok else None
            yield PersonalResult(r.path, r.score, r.aesthetic, r.personality, r.error, personal)


def personalize(
    predictor: Any, profile: ProfileLike, calibration: Optional[Calibration] = None
) -> PersonalPredictor:
    """Bind ``profile`` to ``predictor``: its fitted weights, or the weights its traits map to through
    ``calibration`` (default: the one stored with the model by ``personalize calibrate``)."""
    person = as_profile(profile)
    if person.weights is None and calibration is None:
        calibration = stored_calibration(getattr(predictor, "weights_file", None))
    return PersonalPredictor(predictor, personal_weights(person, predictor.fingerprint, calibration))


def profile_summary(weights: PersonalWeights) -> str:
    """One line for logs and the CLI: where the weights come from and their values."""
    values = ", ".join(f"{v:+.3f}" for v in weights.weights)
    return f"personal weights ({weights.source}): [{values}] offset {weights.offset:+.3f}"


__all__ = ["PersonalResult", "PersonalPredictor", "PERSONAL_COLUMNS", "personalize", "as_profile"]
