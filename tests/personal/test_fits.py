"""Per-person fits, the traits-to-weights mapping and the protocol, on outputs generated with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from persona_iaa.errors import DataError, ModelError
from persona_iaa.models.pdmtl import final_score
from persona_iaa.personal.calibration import fit_calibration
from persona_iaa.personal.fewshot import PersonData, fit_person, generic_coefficients, rating_targets
from persona_iaa.personal.profile import Calibration, Profile, personal_weights
from persona_iaa.personal.protocol import run_protocol

GENERIC = np.array([0.05, 0.0, -0.02, 0.03, 0.0])
TRUE_BASE = np.array([0.1, -0.05, 0.0, 0.05, 0.0])
TRUE_MATRIX = 0.3 * np.eye(5)
PRIOR = generic_coefficients(GENERIC)


def person(rng, traits, n=160, noise=0.02, user="u"):
    """Ratings on a 1..5 scale that follow s_a + w(t) . s_p (plus a personal offset and spread)."""
    aesthetic = rng.uniform(0.2, 0.8, n)
    personality = rng.uniform(-0.8, 0.8, (n, 5))
    truth = final_score(aesthetic, personality, TRUE_BASE + TRUE_MATRIX @ traits)
    ratings = 3 + 6 * (truth - truth.mean()) + rng.normal(0, noise, n)
    return PersonData(user, aesthetic, personality, ratings, traits)


def people(seed, count):
    rng = np.random.default_rng(seed)
    return [person(rng, rng.uniform(-1, 1, 5), user=f"u{i}") for i in range(count)]


def test_rating_targets_do_not_depend_on_the_rating_scale():
    rng = np.random.default_rng(0)
    someone = person(rng, np.zeros(5))
    rescaled = PersonData(
        "v", someone.aesthetic, someone.personality, 10 * someone.ratings - 7, someone.traits
    )
    generic = someone.generic(GENERIC)
    np.testing.assert_allclose(
        rating_targets(someone.ratings, generic), rating_targets(rescaled.ratings, generic)
    )
    fits = [fit_person(p, GENERIC, PRIOR, ridge=0.0) for p in (someone, rescaled)]
    np.testing.assert_allclose(fits[0].weights, fits[1].weights)


def test_many_ratings_recover_the_persons_weights_and_a_huge_ridge_keeps_the_prior():
    rng = np.random.default_rng(1)
    traits = np.array([1.0, -0.5, 0.0, 0.5, -1.0])
    someone = person(rng, traits, n=400, noise=0.001)
    fit = fit_person(someone, GENERIC, PRIOR, ridge=0.0)
    target = rating_targets(someone.ratings, someone.generic(GENERIC))
    predicted = fit.apply(someone.aesthetic, someone.personality)
    assert np.corrcoef(predicted, target)[0, 1] > 0.999
    # the free weight on s_a absorbs the rating scale, so the person's own weights come back
    np.testing.assert_allclose(fit.weights, TRUE_BASE + TRUE_MATRIX @ traits, atol=0.01)
    stiff = fit_person(someone, GENERIC, PRIOR, ridge=1e9)
    np.testing.assert_allclose(stiff.weights, GENERIC, atol=1e-5)


def test_one_rating_value_is_refused():
    rng = np.random.default_rng(2)
    someone = person(rng, np.zeros(5))
    flat = PersonData("f", someone.aesthetic, someone.personality, np.full(len(someone), 3.0))
    with pytest.raises(DataError, match="all equal"):
        fit_person(flat, GENERIC, PRIOR, ridge=1.0)


def test_calibration_finds_the_trait_mapping_and_traits_beat_one_population_vector():
    calibration = fit_calibration(people(3, 40), GENERIC, "sha256:test", shots=(10,))
    cv = calibration.info["cv_srocc"]
    assert cv["traits"] > cv["population"] + 0.1 and cv["traits"] > cv["generic"] + 0.1
    for traits in np.random.default_rng(7).uniform(-1, 1, (3, 5)):
        np.testing.assert_allclose(
            calibration.weights_for(traits), TRUE_BASE + TRUE_MATRIX @ traits, atol=0.05
        )
    assert calibration.ridge > 0


def test_protocol_rows_keys_and_order_of_merit():
    calibration = fit_calibration(people(4, 30), GENERIC, "sha256:test", shots=(10, 100))
    result = run_protocol(people(5, 8), GENERIC, calibration, shots=(10, 100), repeats=3)
    assert result["users"] == 8 and list(result["results"]) == ["generic", "traits", "shots_10", "shots_100"]
    for row in result["results"].values():
        assert set(row) == {"srocc", "srocc_sd", "n_users"} and row["n_users"] == 8
    srocc = {name: row["srocc"] for name, row in result["results"].items()}
    assert srocc["traits"] > srocc["generic"] and srocc["shots_100"] > srocc["generic"]


def test_protocol_without_traits_has_no_traits_row_and_skips_users_with_too_few_ratings():
    rng = np.random.default_rng(6)
    few = [
        PersonData(f"w{i}", p.aesthetic[:60], p.personality[:60], p.ratings[:60])
        for i, p in enumerate(person(rng, np.zeros(5)) for _ in range(4))
    ]
    result = run_protocol(few, GENERIC, None, shots=(10, 100), repeats=2)
    assert "traits" not in result["results"]
    assert result["results"]["shots_10"]["n_users"] == 4
    assert result["results"]["shots_100"] == {"srocc": None, "srocc_sd": None, "n_users": 0}


def test_profiles_and_calibrations_round_trip_and_refuse_another_model(tmp_path):
    # coefficients on [s_a, s_p]: twice the generic weight on s_a, so weights are halved
    calibration = Calibration(
        2 * np.r_[1.0, TRUE_BASE], np.vstack([np.zeros(5), 2 * TRUE_MATRIX]), 0.5, "sha256:aaaa", {"users": 3}
    )
    calibration.save(tmp_path / "c.json")
    loaded = Calibration.load(tmp_path / "c.json")
    np.testing.assert_allclose(loaded.matrix, calibration.matrix)
    assert loaded.info["users"] == 3
    traits = np.array([0.5, 0.0, -0.5, 1.0, 0.25])
    zero_shot = personal_weights(Profile(traits=traits), "sha256:aaaa", loaded)
    np.testing.assert_allclose(zero_shot.weights, TRUE_BASE + TRUE_MATRIX @ traits)
    fitted = Profile(traits=traits, weights=GENERIC, offset=0.1, model="sha256:aaaa")
    fitted.save(tmp_path / "p.json")
    again = Profile.load(tmp_path / "p.json")
    assert personal_weights(again, "sha256:aaaa", None).offset == pytest.approx(0.1)
    with pytest.raises(ModelError, match="another model"):
        personal_weights(again, "sha256:bbbb", None)
    with pytest.raises(ModelError, match="another model"):
        personal_weights(Profile(traits=traits), "sha256:bbbb", loaded)
