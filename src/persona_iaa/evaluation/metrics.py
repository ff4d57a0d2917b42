"""Aesthetic and personality metrics; correlations from scipy.stats.

Undefined values (a correlation of a constant prediction, say) are NaN here and ``null`` in JSON.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence, Union

import numpy as np
from scipy import stats

from ..constants import TRAITS

ArrayLike = Union[Sequence[float], np.ndarray]


def _correlation(fn, a: np.ndarray, b: np.ndarray) -> float:
    """``fn(a, b)[0]``, NaN where the correlation is undefined, without the warnings that say so.

    Only those warnings are hidden (a (nearly) constant input, non-finite values): anything else that
    scipy or numpy announce, deprecations included, still reaches the caller.
    """
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        for category in (stats.ConstantInputWarning, stats.NearConstantInputWarning):
            warnings.filterwarnings("ignore", category=category)
        return float(fn(a, b)[0])


def srocc(pred: ArrayLike, target: ArrayLike) -> float:
    return _correlation(stats.spearmanr, np.asarray(pred, float), np.asarray(target, float))


def plcc(pred: ArrayLike, target: ArrayLike) -> float:
    return _correlation(stats.pearsonr, np.asarray(pred, float), np.asarray(target, float))


def krcc(pred: ArrayLike, target: ArrayLike) -> float:
    return _correlation(stats.kendalltau, np.asarray(pred, float), np.asarray(target, float))


def rmse(pred: ArrayLike, target: ArrayLike) -> float:
    diff = np.asarray(pred, float) - np.asarray(target, float)
    return float(np.sqrt(np.mean(diff**2))) if diff.size else math.nan


def mse(pred: ArrayLike, target: ArrayLike) -> float:
    """Mean squared error: the paper's "RMSE" column behaves like this (see the README), so both are given."""
    diff = np.asarray(pred, float) - np.asarray(target, float)
    return float(np.mean(diff**2)) if diff.size else math.nan


def mae(pred: ArrayLike, target: ArrayLike) -> float:
    diff = np.asarray(pred, float) - np.asarray(target, float)
    return float(np.mean(np.abs(diff))) if diff.size else math.nan


def binary_accuracy(pred: ArrayLike, target: ArrayLike, threshold: float = 0.5) -> float:
    """Share of images on the same side of ``threshold`` (the paper's AVA criterion: score above 0.5)."""
    pred, target = np.asarray(pred, float), np.asarray(target, float)
    return float(np.mean((pred > threshold) == (target > threshold))) if pred.size else math.nan


def aesthetic_metrics(pred: ArrayLike, target: ArrayLike, threshold: float = 0.5) -> dict[str, float]:
    return {
        "srocc": srocc(pred, target),
        "plcc": plcc(pred, target),
        "krcc": krcc(pred, target),
        "rmse": rmse(pred, target),
        "mse": mse(pred, target),
        "mae": mae(pred, target),
        "acc": binary_accuracy(pred, target, threshold),
        "n": int(len(pred)),
    }


def personality_metrics(pred: np.ndarray, target: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-trait PLCC and RMSE, plus their means over the five traits."""
    pred, target = np.asarray(pred, float).reshape(-1, 5), np.asarray(target, float).reshape(-1, 5)
    per_trait = {t: {"plcc": plcc(pred[:, i], target[:, i]), "rmse": rmse(pred[:, i], target[:, i])}
                 for i, t in enumerate(TRAITS)}
    per_trait["mean"] = {
        "plcc": float(np.nanmean([v["plcc"] for v in per_trait.values()])) if any(
            not math.isnan(v["plcc"]) for v in per_trait.values()) else math.nan,
        "rmse": float(np.mean([v["rmse"] for v in per_trait.values()])),
    }
    return per_trait


def json_safe(value):
    """NaN/inf -> None, numpy scalars -> Python, recursively (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
