"""Statistics over repeated runs: mean and sd over seeds, and paired bootstrap differences.

Why a paired bootstrap over test images: two models scored on the same images err on many of the same
images, so their difference varies far less than either metric does. Resampling images (the same
resample for both models) gives the spread of the *difference* that one test set can tell apart;
averaging the per-seed differences inside every resample pools the seeds' evidence while keeping each
seed's models paired (the test split may differ between seeds).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats

#: Metrics whose paired difference :func:`paired_bootstrap` can resample (vectorised over resamples).
BOOTSTRAP_METRICS: tuple[str, ...] = ("srocc", "plcc", "acc")
#: The paper's AVA criterion: an image is "high quality" when its normalised score is above 0.5.
ACC_THRESHOLD = 0.5


def summarise(values: Sequence[Optional[float]]) -> dict[str, object]:
    """``{"mean", "sd", "values"}`` of one metric over seeds (sample sd; None with fewer than 2 values).

    Undefined values (None/NaN, e.g. a correlation of a constant prediction) stay in ``values`` as None
    and are left out of the mean and sd.
    """
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    listed = [float(v) if v is not None and math.isfinite(float(v)) else None for v in values]
    mean = float(np.mean(kept)) if kept else None
    sd = float(np.std(kept, ddof=1)) if len(kept) >= 2 else None
    return {"mean": mean, "sd": sd, "values": listed}


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)


def _rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _rowwise_pearson(stats.rankdata(a, axis=1), stats.rankdata(b, axis=1))


def _rowwise_accuracy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a > ACC_THRESHOLD) == (b > ACC_THRESHOLD)).mean(axis=1)


ROWWISE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "srocc": _rowwise_spearman, "plcc": _rowwise_pearson, "acc": _rowwise_accuracy,
}


@dataclasses.dataclass(frozen=True)
class PairedRun:
    """One seed's two models on the same test images: their scores and the targets, aligned."""

    reference: np.ndarray  # [N] the baseline's scores
    candidate: np.ndarray  # [N] the compared model's scores
    target: np.ndarray  # [N]

    def __post_init__(self) -> None:
        if not len(self.reference) == len(self.candidate) == len(self.target):
            raise ValueError("paired scores must cover the same images")


def metric_difference(run: PairedRun, metric: str, index: Optional[np.ndarray] = None) -> np.ndarray:
    """candidate - reference on ``metric`` for each row of image indices ``index`` ([B, N]; all images
    once when None)."""
    index = np.arange(len(run.target))[None, :] if index is None else index
    fn, target = ROWWISE[metric], run.target[index]
    return fn(run.candidate[index], target) - fn(run.reference[index], target)


def paired_bootstrap(runs: Sequence[PairedRun], metric: str, *, resamples: int = 2000, seed: int = 0,
                     chunk_cells: int = 4_000_000) -> dict[str, object]:
    """The mean over seeds of candidate - reference on ``metric``, with a 95% percentile interval.

    Every resample draws each seed's test images with replacement (the same draw for both models) and
    averages the seeds' differences. ``significant`` says whether the interval excludes 0.
    """
    if metric not in ROWWISE:
        raise ValueError(f"no bootstrap for {metric!r}; choose from {', '.join(ROWWISE)}")
    if not runs:
        raise ValueError("no runs to compare")
    rng = np.random.default_rng(seed)
    observed = float(np.nanmean([metric_difference(run, metric)[0] for run in runs]))
    totals = np.zeros(resamples)
    for run in runs:
        n = len(run.target)
        step = max(1, chunk_cells // max(n, 1))
        for first in range(0, resamples, step):
            rows = min(step, resamples - first)
            totals[first:first + rows] += metric_difference(run, metric, rng.integers(0, n, size=(rows, n)))
    replicates = totals / len(runs)
    replicates = replicates[np.isfinite(replicates)]
    if not len(replicates):
        return {"mean": observed, "ci95": [None, None], "significant": False}
    low, high = (float(v) for v in np.percentile(replicates, [2.5, 97.5]))
    return {"mean": observed, "ci95": [low, high], "significant": bool(low > 0 or high < 0)}
