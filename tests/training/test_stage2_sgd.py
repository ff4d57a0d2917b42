"""Stage 2's SGD as a pure function: it approaches the exact solution and continues a fit bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from persona_iaa.training.losses import NonFiniteLoss
from persona_iaa.training.stage2 import FrozenOutputs, SGDSettings, final_mse, fit_lstsq, fit_sgd

TRUE_W = np.array([0.1, -0.2, 0.05, 0.3, -0.1])


@pytest.fixture
def frozen() -> FrozenOutputs:
    rng = np.random.default_rng(3)
    a, p = rng.uniform(0, 1, 200).astype(np.float32), rng.uniform(-1, 1, (200, 5)).astype(np.float32)
    target = (a + p @ TRUE_W + rng.normal(0, 0.01, 200)).astype(np.float32)
    return FrozenOutputs(a, p, target)


def test_sgd_approaches_the_least_squares_weights(frozen):
    settings = SGDSettings(epochs=30, batch_size=16, lr=0.1, momentum=0.9, weight_decay=0.0, lr_decay=0.95)
    fit = fit_sgd(frozen, settings, seed=0)
    assert len(fit.loss_curve) == 30 and fit.loss_curve[-1] < fit.loss_curve[0]
    exact = fit_lstsq(frozen)
    np.testing.assert_allclose(fit.weights, exact.weights, atol=0.02)
    assert final_mse(frozen, fit.weights) < 1.2 * final_mse(frozen, exact.weights)


def test_a_fit_continued_from_an_epoch_ends_where_an_uninterrupted_one_does(frozen):
    settings = SGDSettings(epochs=4, batch_size=32, lr=0.05)
    whole = fit_sgd(frozen, settings, seed=7)
    states = []
    first = fit_sgd(frozen, SGDSettings(epochs=2, batch_size=32, lr=0.05), seed=7,
                    on_epoch=lambda done: states.append(done.state))
    assert [s.epoch for s in states] == [1, 2]
    rest = fit_sgd(frozen, settings, seed=7, start=states[-1])
    assert np.array_equal(rest.weights, whole.weights)
    assert first.loss_curve + rest.loss_curve == whole.loss_curve
    assert not np.array_equal(fit_sgd(frozen, settings, seed=8).weights, whole.weights)  # the seed matters


def test_a_diverging_fit_names_the_step(frozen):
    def exploding(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((predicted - target) ** 2).mean() * float("inf")

    with pytest.raises(NonFiniteLoss) as raised:
        fit_sgd(frozen, SGDSettings(epochs=2, batch_size=64, lr=0.1), seed=0, loss=exploding)
    assert raised.value.step == 1 and raised.value.name == "final"
