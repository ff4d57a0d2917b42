"""The zero-shot mapping from a person's traits to their weights, fitted on users with traits and ratings.

Model: ``rating_ui ~ b_u + c(t_u) . [s_a_i, s_p_i]`` with six coefficients ``c(t) = base + W t`` (ratings
standardised as in :mod:`~persona_iaa.personal.fewshot`; a person's weights are ``c[1:] / c[0]``). It
is linear in ``base`` and ``W`` (``x_ij * t_uk`` are the features of ``W_jk``), so one pooled least
squares over every calibration rating fits it, each user's offset ``b_u`` removed by centring within
the user. ``W`` is shrunk toward 0 (a ridge on ``W`` only), its strength chosen by user-level
cross-validation on the zero-shot SROCC; the cross-validation also measures what the traits add over
one population ``base`` (reported as ``cv_srocc``). Freeing the weight on s_a (rather than fixing it
at 1, as ``w(t) = w + W t`` would) raised the held-out zero-shot SROCC on the people world with
idealised outputs from 0.669 to 0.723.

The few-shot prior strength is calibrated on the same users: simulated few-shot fits (k ratings
drawn, the rest tested) for a grid of strengths, toward each user's out-of-fold ``w(t)`` (or the
generic weights without traits); the best mean SROCC wins.
"""

from __future__ import annotations

import functools
import logging
import operator
import warnings
from typing import Iterable, Optional, Sequence

import numpy as np
from scipy import stats

from ..errors import DataError
from ..evaluation.metrics import srocc
from .fewshot import (
    DEFAULT_PRIOR_STRENGTH,
    PersonData,
    fit_person,
    generic_coefficients,
    rating_targets,
    ridge_for,
)
from .profile import COEFFICIENTS, Calibration

log = logging.getLogger(__name__)

#: Ridge on W, as a share of the mean diagonal of W's normal equations.
MAPPING_SHRINKAGE: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: Prior strengths tried for few-shot fits, in ratings' worth.
PRIOR_STRENGTHS: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
#: Fewest held-out ratings a simulated or evaluated draw tests on.
MIN_TEST = 5
FOLDS = 5
N_COEFFICIENTS = len(COEFFICIENTS)


def _features(person: PersonData, traits: Optional[np.ndarray]) -> np.ndarray:
    x = person.columns()
    if traits is None:
        return x
    return np.hstack([x, (x[:, :, None] * traits[None, None, :]).reshape(len(x), -1)])


def normal_equations(
    person: PersonData, generic_weights: np.ndarray, with_traits: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One user's ``X'X`` and ``X'y`` with the user's offset centred out."""
    x = _features(person, person.traits if with_traits else None)
    y = rating_targets(person.ratings, person.generic(generic_weights))
    x, y = x - x.mean(axis=0), y - y.mean()
    return x.T @ x, x.T @ y


def solve_mapping(
    gram: np.ndarray, moment: np.ndarray, shrinkage: float
) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """``base`` and ``W`` (None without trait features) from summed normal equations."""
    penalty = np.zeros(len(gram))
    if len(gram) > N_COEFFICIENTS:
        penalty[N_COEFFICIENTS:] = shrinkage * float(np.mean(np.diag(gram)[N_COEFFICIENTS:]))
    penalty += 1e-9 * max(float(np.mean(np.diag(gram))), 1e-12)  # keeps a degenerate system solvable
    beta = np.linalg.solve(gram + np.diag(penalty), moment)
    base, rest = beta[:N_COEFFICIENTS], beta[N_COEFFICIENTS:]
    return base, (rest.reshape(N_COEFFICIENTS, -1) if len(rest) else None)


def _zero_shot(person: PersonData, coefficients: np.ndarray) -> float:
    return srocc(person.columns() @ coefficients, person.ratings)


def _folds(n: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i :: min(FOLDS, n)] for i in range(min(FOLDS, n))]


def _cross_validate(
    people: Sequence[PersonData], generic_weights: np.ndarray, seed: int
) -> tuple[float, dict[str, float], list[np.ndarray]]:
    """Shrinkage with the best held-out zero-shot SROCC, the SROCCs, and each user's out-of-fold c(t)."""
    equations = [normal_equations(p, generic_weights, True) for p in people]
    folds = _folds(len(people), seed)
    scores: dict[float, list[float]] = {s: [] for s in MAPPING_SHRINKAGE}
    population, generic = [], [srocc(p.generic(generic_weights), p.ratings) for p in people]
    out_of_fold: dict[float, dict[int, np.ndarray]] = {s: {} for s in MAPPING_SHRINKAGE}
    for fold in folds:
        train = np.setdiff1d(np.arange(len(people)), fold)
        gram = sum(equations[i][0] for i in train)
        moment = sum(equations[i][1] for i in train)
        base_only, _ = solve_mapping(gram[:N_COEFFICIENTS, :N_COEFFICIENTS], moment[:N_COEFFICIENTS], 0.0)
        population += [_zero_shot(people[i], base_only) for i in fold]
        for shrinkage in MAPPING_SHRINKAGE:
            base, matrix = solve_mapping(gram, moment, shrinkage)
            for i in fold:
                out_of_fold[shrinkage][i] = base + matrix @ people[i].traits
                scores[shrinkage].append(_zero_shot(people[i], out_of_fold[shrinkage][i]))
    best = max(MAPPING_SHRINKAGE, key=lambda s: np.nanmean(scores[s]))
    cv = {
        "generic": float(np.nanmean(generic)),
        "population": float(np.nanmean(population)),
        "traits": float(np.nanmean(scores[best])),
    }
    return best, cv, [out_of_fold[best][i] for i in range(len(people))]


def draws(n: int, k: int, repeats: int, rng: np.random.Generator) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """``repeats`` random (fit, test) splits of ``n`` ratings with ``k`` to fit on."""
    for _ in range(repeats):
        order = rng.permutation(n)
        yield np.sort(order[:k]), np.sort(order[k:])


def srocc_each(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """SROCC of each row of ``predictions`` [m, n] with ``target`` [n] in one scipy call (NaN: undefined)."""
    if len(target) < 2 or np.ptp(target) == 0:
        return np.full(len(predictions), np.nan)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.filterwarnings("ignore", category=stats.ConstantInputWarning)  # a constant row: NaN
        matrix = stats.spearmanr(np.vstack([target, predictions]), axis=1)[0]
    return np.atleast_2d(matrix)[0, 1:] if len(predictions) > 1 else np.array([matrix])


def few_shot_srocc(
    person: PersonData,
    generic_weights: np.ndarray,
    prior: np.ndarray,
    ridges: Sequence[float],
    k: int,
    repeats: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mean SROCC over ``repeats`` draws, per ridge: fit on k of the person's ratings, test on the rest.

    NaN for a ridge with no usable draw; every ridge sees the same draws."""
    values = []
    for fit_index, test_index in draws(len(person), k, repeats, rng):
        part = person.subset(fit_index)
        if np.ptp(part.ratings) == 0:
            continue  # k equal ratings carry no taste: this draw is left out
        test = person.subset(test_index)
        fits = [fit_person(part, generic_weights, prior, ridge) for ridge in ridges]
        values.append(
            srocc_each(np.stack([w.apply(test.aesthetic, test.personality) for w in fits]), test.ratings)
        )
    if not values:
        return np.full(len(ridges), np.nan)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
        return np.nanmean(np.stack(values), axis=0)


def _choose_strength(
    people: Sequence[PersonData],
    generic_weights: np.ndarray,
    priors: Sequence[np.ndarray],
    unit: float,
    shots: Sequence[int],
    seed: int,
) -> tuple[float, dict[str, float]]:
    ridges = [strength * unit for strength in PRIOR_STRENGTHS]
    values = []
    for k in shots:
        for index, (person, prior) in enumerate(zip(people, priors)):
            if len(person) >= k + MIN_TEST:
                rng = np.random.default_rng([seed, index, k])
                values.append(few_shot_srocc(person, generic_weights, prior, ridges, k, 2, rng))
    table = np.stack(values) if values else np.full((1, len(ridges)), np.nan)
    means = [float(np.nanmean(column)) if np.isfinite(column).any() else float("nan") for column in table.T]
    results = {f"{strength:g}": mean for strength, mean in zip(PRIOR_STRENGTHS, means)}
    finite = {s: v for s, v in results.items() if np.isfinite(v)}
    best = max(finite, key=lambda s: finite[s]) if finite else f"{DEFAULT_PRIOR_STRENGTH:g}"
    return float(best), results



def _total(parts: Iterable[np.ndarray]) -> np.ndarray:
    """Add same-shaped arrays (builtin ``sum`` starts from the int 0, which hides the array type)."""
    return functools.reduce(operator.add, parts)


def fit_calibration(
    people: Sequence[PersonData],
    generic_weights: np.ndarray,
    model_id: str,
    *,
    shots: Sequence[int] = (10, 100),
    seed: int = 0,
) -> Calibration:
    """Fit the trait mapping (when every user has traits) and the few-shot prior strength."""
    people = [p for p in people if len(p) >= 2 and np.ptp(p.ratings) > 0]
    if len(people) < 2:
        raise DataError("calibration needs at least 2 users with 2 or more different ratings each")
    generic_weights = np.asarray(generic_weights, dtype=np.float64)
    with_traits = all(p.traits is not None for p in people)
    info: dict = {"users": len(people), "ratings": int(sum(len(p) for p in people))}
    if with_traits:
        shrinkage, info["cv_srocc"], priors = _cross_validate(people, generic_weights, seed)
        gram, moment = (
            _total(parts) for parts in zip(*(normal_equations(p, generic_weights, True) for p in people))
        )
        base, matrix = solve_mapping(gram, moment, shrinkage)
        info["mapping_shrinkage"] = shrinkage
    else:
        gram, moment = (
            _total(parts) for parts in zip(*(normal_equations(p, generic_weights, False) for p in people))
        )
        (base, matrix), priors = (
            solve_mapping(gram, moment, 0.0),
            [generic_coefficients(generic_weights)] * len(people),
        )
    unit = ridge_for(1.0, np.vstack([p.columns() for p in people]))
    strength, info["few_shot_srocc_by_strength"] = _choose_strength(
        people, generic_weights, priors, unit, shots, seed
    )
    info.update(prior_strength=strength, shots=list(shots))
    log.info("calibrated on %d users: prior strength %g ratings", len(people), strength)
    return Calibration(base, matrix, strength * unit, model_id, info)
