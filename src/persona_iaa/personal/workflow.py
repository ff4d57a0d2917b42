"""What the ``personalize`` commands do, as functions: calibrate a run, fit a person, run the protocol.

Each validates its whole input (sources, users, counts, images) before it scores or writes anything,
so bad input costs one line and leaves no file behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..constants import TRAITS
from ..data.ratings import PersonRatings, load_ratings, read_person_ratings, select_test_users
from ..errors import ConfigError, DataError
from .calibration import MIN_TEST, fit_calibration
from .fewshot import (
    DEFAULT_PRIOR_STRENGTH,
    MIN_RATINGS,
    PersonData,
    fit_person,
    generic_coefficients,
    ridge_for,
)
from .outputs import image_outputs
from .profile import Calibration, Profile, calibration_path
from .protocol import run_protocol
from .scoring import stored_calibration


def generic_weights(predictor: Any) -> np.ndarray:
    weights = predictor.inter_task_weights
    return np.array([weights[t] for t in TRAITS], dtype=np.float64)


def check_shots(shots: Sequence[int], repeats: int = 1) -> list[int]:
    if not shots or any(k < 1 for k in shots):
        raise ConfigError(
            f"--shots needs positive numbers of ratings, got {','.join(map(str, shots)) or 'none'}"
        )
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    return sorted(set(shots))


def _split_users(
    spec: str, test_users: Optional[str]
) -> tuple[list[PersonRatings], list[PersonRatings], str, Any]:
    source = load_ratings(spec)
    test, rule = select_test_users(source, test_users)
    chosen = set(test)
    calibration_people = [p for p in source.people if p.user not in chosen]
    if len(calibration_people) < 2:
        raise DataError(
            f"{spec}: only {len(calibration_people)} user(s) left to calibrate on; choose fewer test users"
        )
    return [p for p in source.people if p.user in chosen], calibration_people, rule, source


def _people(predictor: Any, ratings: Sequence[PersonRatings], progress: bool) -> list[PersonData]:
    table = image_outputs(predictor, [path for p in ratings for path in p.paths], progress=progress)
    return [table.person(p) for p in ratings]


def calibrate(
    predictor: Any,
    spec: str,
    *,
    test_users: Optional[str] = None,
    shots: Sequence[int] = (10, 100),
    seed: int = 0,
    progress: bool = False,
) -> tuple[Calibration, Path]:
    """Fit the trait mapping and prior strength on the non-test users of ``spec``; store it with the model."""
    shots = check_shots(shots)
    if predictor.weights_file is None:
        raise ConfigError("calibration is stored beside the model: load the predictor from a run directory")
    _, calibration_people, rule, source = _split_users(spec, test_users)
    people = _people(predictor, calibration_people, progress)
    calibration = fit_calibration(
        people, generic_weights(predictor), predictor.fingerprint, shots=shots, seed=seed
    )
    calibration.info.update(
        source=spec,
        test_users=rule,
        missing_images=source.missing_images,
        calibration_users=[p.user for p in calibration_people],
        seed=seed,
    )
    path = calibration_path(predictor.weights_file)
    calibration.save(path)
    return calibration, path


def fit_profile(
    predictor: Any,
    ratings_file: Union[str, Path],
    profile: Optional[Profile] = None,
    calibration: Optional[Calibration] = None,
) -> Profile:
    """A person's weights and offset from their ``path,score`` ratings (toward their traits' weights)."""
    paths, scores = read_person_ratings(Path(ratings_file))
    if len(paths) < MIN_RATINGS:
        raise DataError(f"{ratings_file}: {len(paths)} rating(s); rate at least {MIN_RATINGS} photos")
    if not np.all(np.isfinite(scores)) or np.ptp(scores) == 0:
        raise DataError(
            f"{ratings_file}: the scores must be numbers and not all equal (rate better and worse photos)"
        )
    calibration = calibration or stored_calibration(predictor.weights_file)
    if calibration is not None and calibration.model != predictor.fingerprint:
        calibration = None  # made for another model: its mapping does not apply to this personality head
    traits = profile.traits if profile is not None else None
    person = _people(predictor, [PersonRatings("me", tuple(paths), scores, traits)], False)[0]
    generic = generic_weights(predictor)
    use_traits = False
    prior = generic_coefficients(generic)
    if traits is not None and calibration is not None and calibration.matrix is not None:
        use_traits, prior = True, calibration.coefficients_for(traits)
    ridge = (
        calibration.ridge if calibration is not None else ridge_for(DEFAULT_PRIOR_STRENGTH, person.columns())
    )
    weights = fit_person(person, generic, prior, ridge)
    base = profile or Profile()
    return Profile(
        traits=base.traits,
        instrument=base.instrument,
        answers=base.answers,
        raw=base.raw,
        weights=weights.weights,
        offset=weights.offset,
        model=predictor.fingerprint,
        fit={
            "ratings": len(paths),
            "prior": "traits" if use_traits else "generic",
            "ridge": ridge,
            "ratings_file": str(ratings_file),
        },
    )


def _stored_match(
    predictor: Any, spec: str, users: list[str], shots: Sequence[int], seed: int
) -> Optional[Calibration]:
    """The run's stored calibration when it was made on exactly these users with these settings."""
    stored = stored_calibration(predictor.weights_file)
    if stored is None or stored.model != predictor.fingerprint:
        return None
    info = stored.info
    same = (info.get("source"), info.get("calibration_users"), info.get("shots"), info.get("seed"))
    return stored if same == (spec, users, list(shots), seed) else None


def evaluate(
    predictor: Any,
    spec: str,
    *,
    test_users: Optional[str] = None,
    shots: Sequence[int] = (10, 100),
    repeats: int = 10,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """The few-shot protocol on the test users of ``spec``, calibrated on the other users.

    Writes nothing but the output cache."""
    shots = check_shots(shots, repeats)
    test_people, calibration_people, rule, source = _split_users(spec, test_users)
    people = _people(predictor, test_people + calibration_people, progress)
    test, others = people[: len(test_people)], people[len(test_people) :]
    generic = generic_weights(predictor)
    calibration = _stored_match(predictor, spec, [p.user for p in calibration_people], shots, seed)
    reused = calibration is not None
    calibration = calibration or fit_calibration(
        others, generic, predictor.fingerprint, shots=shots, seed=seed
    )
    result = run_protocol(test, generic, calibration, shots=shots, repeats=repeats, seed=seed)
    result["protocol"] = {
        "source": spec,
        "test_users": rule,
        "calibration_users": len(others),
        "calibration": "the run's stored calibration (made on these users)"
        if reused
        else "fitted on these users",
        "shots": shots,
        "repeats": repeats,
        "seed": seed,
        "min_test_ratings": MIN_TEST,
        "metric": "SROCC with the user's ratings: mean over draws, then over users (srocc_sd: SD over users)",
        "generic_and_traits_on": "all of the user's ratings",
        "prior_strength": calibration.info["prior_strength"],
        "missing_images": source.missing_images,
        "calibration_cv_srocc": calibration.info.get("cv_srocc"),
    }
    return result
