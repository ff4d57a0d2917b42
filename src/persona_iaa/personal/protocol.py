"""The few-shot PIAA protocol: generic model, questionnaire route and k-shot fits, per test user.

As the PA-IAA code and its successors run it (see ``shared/PIAA.md`` in the project notes): for each
test user, ``repeats`` random draws of k of their rated images to fit on, all their other images to
test on; SROCC with the user's own ratings, averaged over the draws, then over users. The generic
row is the model's own final score (no personalisation) and the traits row the zero-shot weights of
the user's known traits, both on all of the user's ratings (nothing is fitted on them). A user joins
the k-shot row when they have at least k + ``MIN_TEST`` ratings.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from ..evaluation.metrics import srocc
from .calibration import MIN_TEST, few_shot_srocc
from .fewshot import DEFAULT_PRIOR_STRENGTH, PersonData, generic_coefficients, ridge_for
from .profile import Calibration


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean and SD over users (NaN users left out) and how many users counted."""
    finite = [v for v in values if math.isfinite(v)]
    return {
        "srocc": float(np.mean(finite)) if finite else None,
        "srocc_sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else (0.0 if finite else None),
        "n_users": len(finite),
    }


def user_rows(
    person: PersonData,
    index: int,
    generic_weights: np.ndarray,
    calibration: Optional[Calibration],
    shots: Sequence[int],
    repeats: int,
    seed: int,
) -> dict[str, float]:
    """One test user's SROCC per protocol row (rows the user cannot join are absent)."""
    rows = {"generic": srocc(person.generic(generic_weights), person.ratings)}
    prior = generic_coefficients(generic_weights)
    if person.traits is not None and calibration is not None and calibration.matrix is not None:
        prior = calibration.coefficients_for(person.traits)
        rows["traits"] = srocc(person.columns() @ prior, person.ratings)
    ridge = (
        calibration.ridge if calibration is not None else ridge_for(DEFAULT_PRIOR_STRENGTH, person.columns())
    )
    for k in shots:
        if len(person) >= k + MIN_TEST:
            rng = np.random.default_rng([seed, index, k])
            rows[f"shots_{k}"] = float(
                few_shot_srocc(person, generic_weights, prior, [ridge], k, repeats, rng)[0]
            )
    return rows


def run_protocol(
    people: Sequence[PersonData],
    generic_weights: np.ndarray,
    calibration: Optional[Calibration],
    *,
    shots: Sequence[int] = (10, 100),
    repeats: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """``{"users": n, "results": {row: {"srocc", "srocc_sd", "n_users"}}}`` over the test users.

    Rows: ``generic``, ``traits`` (when every test user has traits and the calibration a mapping) and
    ``shots_<k>`` for each k (``srocc`` None when no user has enough ratings for it)."""
    generic_weights = np.asarray(generic_weights, dtype=np.float64)
    per_user = [
        user_rows(p, i, generic_weights, calibration, shots, repeats, seed) for i, p in enumerate(people)
    ]
    with_traits = (
        calibration is not None
        and calibration.matrix is not None
        and all(p.traits is not None for p in people)
    )
    names = ["generic"] + (["traits"] if with_traits else []) + [f"shots_{k}" for k in shots]
    results = {name: summarise([rows[name] for rows in per_user if name in rows]) for name in names}
    return {"users": len(people), "results": results}
