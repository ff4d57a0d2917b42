"""The pieces written once for the whole package: eq. (5), the stage-2 least-squares solver, the registry
and the optional-extra guard."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from persona_iaa.errors import ModelError
from persona_iaa.extras import has_module, require_extra
from persona_iaa.models.pdmtl import build_model, final_score
from persona_iaa.registry import Registry
from persona_iaa.training.stage2 import FrozenOutputs, final_mse, fit_lstsq


def _world(n: int = 200, seed: int = 0, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    personality = rng.uniform(-1, 1, (n, 5))
    aesthetic = rng.uniform(0, 1, n)
    weights = np.array([0.1, -0.2, 0.3, 0.0, 0.05])
    target = aesthetic + personality @ weights + 0.25 + noise * rng.normal(size=n)
    return FrozenOutputs(aesthetic, personality, target), weights


def test_final_score_is_eq5_for_numpy_and_torch_and_per_row_weights():
    frozen, weights = _world(8)
    expected = frozen.aesthetic + (frozen.personality * weights).sum(1)
    np.testing.assert_allclose(final_score(frozen.aesthetic, frozen.personality, weights), expected)
    as_torch = final_score(torch.tensor(frozen.aesthetic), torch.tensor(frozen.personality),
                           torch.tensor(weights))
    np.testing.assert_allclose(as_torch.numpy(), expected)
    per_row = np.tile(weights, (8, 1))
    with_offset = final_score(frozen.aesthetic, frozen.personality, per_row, 1.0)
    np.testing.assert_allclose(with_offset, expected + 1.0)


def test_model_forward_uses_eq5():
    model = build_model("tiny").eval()
    with torch.no_grad():
        model.inter_task.copy_(torch.tensor([0.5, -0.5, 0.25, 0.0, 1.0]))
        out = model(torch.rand(3, 3, 32, 32))
    expected = out.aesthetic + out.personality @ model.inter_task
    torch.testing.assert_close(out.score, expected)


def test_fit_lstsq_recovers_weights_and_offset():
    frozen, weights = _world()
    plain = fit_lstsq(frozen)  # eq. (6): no offset, so the 0.25 shift biases it
    fitted = fit_lstsq(frozen, fit_offset=True)
    np.testing.assert_allclose(fitted.weights, weights, atol=1e-9)
    assert fitted.offset == pytest.approx(0.25)
    assert final_mse(frozen, fitted.weights, fitted.offset) < 1e-20 < final_mse(frozen, plain.weights)


def test_fit_lstsq_ridge_pulls_toward_prior_but_not_the_offset():
    frozen, weights = _world(12, noise=0.2)
    prior = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    strong = fit_lstsq(frozen, prior=prior, ridge=1e9, fit_offset=True)
    free = fit_lstsq(frozen, fit_offset=True)
    np.testing.assert_allclose(strong.weights, prior, atol=1e-6)
    assert np.abs(free.weights - prior).max() > 0.5
    # the offset stays free under any ridge: it absorbs the mean residual of the prior's predictions
    expected_offset = np.mean(frozen.target - final_score(frozen.aesthetic, frozen.personality, prior))
    assert strong.offset == pytest.approx(expected_offset, abs=1e-6)


def test_frozen_outputs_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="disagree"):
        FrozenOutputs(np.zeros(3), np.zeros((4, 5)), np.zeros(3))


def test_registry_refuses_duplicates_and_names_choices():
    registry: Registry[int] = Registry("widget")
    registry.add("a", 1)
    registry.register("b")(2)
    assert registry.get("b") == 2 and registry.names() == ["a", "b"] and "a" in registry
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", 3)
    with pytest.raises(ModelError, match="unknown widget 'c'; choose one of: a, b"):
        registry.get("c", ModelError)


def test_require_extra_names_the_pip_line():
    assert require_extra("json", "none", "reading JSON").loads("1") == 1
    with pytest.raises(ModelError, match=r"pip install 'persona-iaa\[magic\]'"):
        require_extra("persona_iaa_no_such_module", "magic", "magic", ModelError)
    assert has_module("json") and not has_module("persona_iaa_no_such_module")
