"""Mean/sd over seeds and the paired bootstrap of metric differences."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from persona_iaa.evaluation.statistics import PairedRun, metric_difference, paired_bootstrap, summarise


def test_summarise_gives_mean_sample_sd_and_keeps_undefined_values_as_none():
    result = summarise([0.5, 0.7, float("nan"), None])
    assert result["mean"] == pytest.approx(0.6) and result["sd"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert result["values"] == [0.5, 0.7, None, None]
    assert summarise([0.3])["sd"] is None


def test_vectorised_differences_match_scipy_on_every_resample():
    rng = np.random.default_rng(1)
    target = rng.uniform(size=30)
    run = PairedRun(target + rng.normal(0, 0.3, 30), np.round(target + rng.normal(0, 0.1, 30), 1), target)
    index = rng.integers(0, 30, size=(4, 30))  # resamples repeat images: ties in ranks
    srocc, plcc, acc = (metric_difference(run, m, index) for m in ("srocc", "plcc", "acc"))
    for row, idx in enumerate(index):
        t, a, b = target[idx], run.reference[idx], run.candidate[idx]
        assert srocc[row] == pytest.approx(stats.spearmanr(b, t)[0] - stats.spearmanr(a, t)[0])
        assert plcc[row] == pytest.approx(stats.pearsonr(b, t)[0] - stats.pearsonr(a, t)[0])
        assert acc[row] == pytest.approx(np.mean((b > 0.5) == (t > 0.5)) - np.mean((a > 0.5) == (t > 0.5)))


def test_a_clearly_better_model_is_significant_and_an_identical_one_is_not():
    rng = np.random.default_rng(0)
    runs_better, runs_same = [], []
    for _ in range(3):  # three seeds
        target = rng.uniform(size=200)
        worse = target + rng.normal(0, 0.4, 200)
        runs_better.append(PairedRun(worse, target + rng.normal(0, 0.05, 200), target))
        runs_same.append(PairedRun(worse, worse.copy(), target))
    better = paired_bootstrap(runs_better, "srocc", resamples=500)
    assert better["significant"] and better["ci95"][0] > 0 and better["mean"] > 0.3
    same = paired_bootstrap(runs_same, "srocc", resamples=500)
    assert same["mean"] == 0 and same["ci95"] == [0.0, 0.0] and not same["significant"]


def test_noise_around_no_difference_gives_an_interval_that_holds_zero():
    rng = np.random.default_rng(3)
    target = rng.uniform(size=80)
    runs = [PairedRun(target + rng.normal(0, 0.3, 80), target + rng.normal(0, 0.3, 80), target)]
    result = paired_bootstrap(runs, "plcc", resamples=1000, seed=1)
    low, high = result["ci95"]
    assert low < result["mean"] < high and high - low > 0.02
    assert result == paired_bootstrap(runs, "plcc", resamples=1000, seed=1)  # seeded: repeatable


def test_unknown_metric_and_misaligned_runs_are_refused():
    with pytest.raises(ValueError, match="no bootstrap"):
        paired_bootstrap([PairedRun(np.ones(3), np.ones(3), np.ones(3))], "rmse")
    with pytest.raises(ValueError, match="same images"):
        PairedRun(np.ones(3), np.ones(4), np.ones(3))
