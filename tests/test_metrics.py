"""Metrics against values worked out by hand."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from persona_iaa.evaluation.metrics import (
    aesthetic_metrics,
    binary_accuracy,
    json_safe,
    krcc,
    mae,
    mse,
    personality_metrics,
    plcc,
    rmse,
    srocc,
)


def test_srocc_by_hand():
    # ranks differ by d = (-1, 1, -1, 1, 0): rho = 1 - 6*4 / (5*(25-1)) = 0.8
    assert srocc([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


def test_plcc_by_hand():
    # cov = 3, sum sq x = 2, sum sq y = 42/9  ->  r = 3 / sqrt(2 * 42 / 9)
    assert plcc([1, 2, 3], [1, 2, 4]) == pytest.approx(3 / math.sqrt(2 * 42 / 9))


def test_krcc_by_hand():
    # one discordant pair out of six: tau = (5 - 1) / 6
    assert krcc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


def test_errors_and_accuracy_by_hand():
    assert rmse([0, 0], [3, 4]) == pytest.approx(math.sqrt(12.5))
    assert mae([0, 0], [3, -4]) == pytest.approx(3.5)
    assert mse([0, 0], [3, 4]) == pytest.approx(12.5)
    both = aesthetic_metrics([0.2, 0.4, 0.9], [0.3, 0.1, 0.6])
    assert both["mse"] == pytest.approx(both["rmse"] ** 2)


def test_metrics_tables_show_mse_to_the_fourth_decimal():
    from persona_iaa.evaluation.report import metrics_table

    table = metrics_table({"run": aesthetic_metrics([0.2, 0.4, 0.9], [0.3, 0.1, 0.6])})
    assert "MSE" in table.splitlines()[0] and "0.0633" in table  # (0.01 + 0.09 + 0.09) / 3
    # threshold 0.5: (0.6 vs 0.7 agree), (0.4 vs 0.55 disagree), (0.2 vs 0.1 agree), (0.51 vs 0.5 disagree)
    assert binary_accuracy([0.6, 0.4, 0.2, 0.51], [0.7, 0.55, 0.1, 0.5]) == pytest.approx(0.5)


def test_constant_prediction_has_undefined_correlation_serialised_as_null():
    metrics = aesthetic_metrics([0.5, 0.5, 0.5], [0.1, 0.4, 0.9])
    assert math.isnan(metrics["srocc"]) and metrics["n"] == 3
    text = json.dumps(json_safe(metrics), allow_nan=False)
    assert json.loads(text)["srocc"] is None


def test_personality_metrics_per_trait():
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, size=(50, 5))
    pred = target.copy()
    pred[:, 4] = -target[:, 4]
    metrics = personality_metrics(pred, target)
    assert metrics["O"]["plcc"] == pytest.approx(1.0) and metrics["O"]["rmse"] == pytest.approx(0.0)
    assert metrics["N"]["plcc"] == pytest.approx(-1.0)
    assert metrics["mean"]["plcc"] == pytest.approx(0.6)


def test_only_the_undefined_correlation_warnings_are_hidden():
    import warnings

    from persona_iaa.evaluation.metrics import _correlation

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that escapes fails the test
        assert math.isfinite(plcc([1.0, 1.0 + 1e-14, 1.0], [1.0, 2.0, 3.0]))  # scipy: nearly constant input
        assert math.isnan(plcc([1.0, 2.0, np.inf, 4.0], [1.0, 3.0, 2.0, 4.0]))  # numpy: invalid value

    def deprecated(a, b):
        warnings.warn("this scipy function is deprecated", DeprecationWarning, stacklevel=1)
        return (0.5,)

    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert _correlation(deprecated, np.array([1.0, 2.0]), np.array([2.0, 1.0])) == 0.5
