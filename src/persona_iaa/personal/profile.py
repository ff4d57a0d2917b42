"""A person's profile, the run's trait calibration and personal scores: the part scoring needs.

Why a module of its own that imports only ``models/``: the inference layer applies profiles
(``score --profile``, :meth:`Predictor.personalize`) and must not pull in the training code that the
fits use. A personal score is the paper's eq. (5) with the person's weights and offset,
``s_a + w_u . s_p + b_u``, computed by :func:`~persona_iaa.models.pdmtl.final_score` from outputs the
model already gives: no new forward pass.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Optional, Union, cast

import numpy as np
import torch

from ..constants import TRAITS
from ..errors import ConfigError, ModelError
from ..files import write_json
from ..models.pdmtl import final_score

PROFILE_FORMAT = "persona-iaa/profile"
CALIBRATION_FORMAT = "persona-iaa/personal-calibration"
#: Next to ``model.safetensors``: ``model.personal.json`` (written by ``personalize calibrate``).
CALIBRATION_SUFFIX = ".personal.json"
#: A person's coefficients: their weight on s_a, then on each trait output.
COEFFICIENTS: tuple[str, ...] = ("aesthetic", *TRAITS)
#: The smallest weight of s_a kept (the generic model's is 1): below it eq. (5)'s form would flip the ranking.
MIN_ALPHA = 0.05


def _traits_dict(values: Optional[np.ndarray], names: tuple[str, ...] = TRAITS) -> Optional[dict[str, float]]:
    return None if values is None else {t: float(v) for t, v in zip(names, values)}


def _traits_array(
    data: Any, origin: str, bound: Optional[float] = None, names: tuple[str, ...] = TRAITS
) -> Optional[np.ndarray]:
    if data is None:
        return None
    try:
        values = np.array([float(data[t]) for t in names])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{origin}: expected numbers for each of {', '.join(names)}") from None
    if not np.all(np.isfinite(values)) or (bound is not None and np.any(np.abs(values) > bound + 1e-9)):
        raise ConfigError(
            f"{origin}: values must be finite" + (f" and lie in [-{bound:g}, {bound:g}]" if bound else "")
        )
    return values


@dataclasses.dataclass
class Profile:
    """A person: traits (O, C, E, A, N in [-1, 1]) and/or their own weights and offset.

    ``model`` names the model that ``weights`` were fitted for (:func:`model_fingerprint`): a person's
    weights mean something only against the personality head they were fitted on.
    """

    traits: Optional[np.ndarray] = None
    instrument: Optional[str] = None
    answers: Optional[tuple[int, ...]] = None
    raw: dict[str, float] = dataclasses.field(default_factory=dict)
    weights: Optional[np.ndarray] = None
    offset: float = 0.0
    model: Optional[str] = None
    fit: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": PROFILE_FORMAT,
            "traits": _traits_dict(self.traits),
            "instrument": self.instrument,
            "raw": self.raw,
        }
        if self.answers is not None:
            data["answers"] = list(self.answers)
        if self.weights is not None:
            data.update(
                weights=_traits_dict(self.weights), offset=float(self.offset), model=self.model, fit=self.fit
            )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "profile") -> "Profile":
        if not isinstance(data, Mapping) or data.get("format") != PROFILE_FORMAT:
            raise ConfigError(
                f"{origin}: not a persona-iaa profile (write one with `persona-iaa profile bfi10`)"
            )
        weights = _traits_array(data.get("weights"), f"{origin}: weights")
        profile = cls(
            traits=_traits_array(data.get("traits"), f"{origin}: traits", bound=1.0),
            instrument=data.get("instrument"),
            raw=dict(data.get("raw") or {}),
            weights=weights,
            offset=float(data.get("offset") or 0.0),
            model=data.get("model"),
            fit=dict(data.get("fit") or {}),
        )
        if data.get("answers") is not None:
            profile.answers = tuple(int(a) for a in data["answers"])
        if profile.traits is None and profile.weights is None:
            raise ConfigError(f"{origin}: the profile has neither traits nor weights")
        return profile

    def save(self, path: Union[str, Path]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Profile":
        return cls.from_dict(_read_json(path, "profile"), str(path))


@dataclasses.dataclass
class Calibration:
    """The zero-shot mapping and the few-shot prior strength (``ridge``), for one model.

    A person's six coefficients (on s_a, then on each trait output; :data:`COEFFICIENTS`) are
    ``c(t) = base + matrix @ t``; their weights are ``c[1:] / c[0]`` (see :func:`as_weights`).
    ``matrix`` is None when the calibration users had no known traits (the ridge is still calibrated).
    """

    base: np.ndarray  # [6]
    matrix: Optional[np.ndarray]  # [6 coefficients, 5 traits]
    ridge: float
    model: str
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def coefficients_for(self, traits: np.ndarray) -> np.ndarray:
        if self.matrix is None:
            raise ConfigError(
                "this run's calibration users had no known traits, so traits alone cannot "
                "personalise it; fit the profile from ratings (`persona-iaa personalize fit`)"
            )
        return self.base + self.matrix @ np.asarray(traits, dtype=np.float64)

    def weights_for(self, traits: np.ndarray) -> np.ndarray:
        return as_weights(self.coefficients_for(traits)).weights

    def to_dict(self) -> dict[str, Any]:
        matrix = (
            None
            if self.matrix is None
            else {c: _traits_dict(row) for c, row in zip(COEFFICIENTS, self.matrix)}
        )
        return {
            "format": CALIBRATION_FORMAT,
            "model": self.model,
            "base": _traits_dict(self.base, COEFFICIENTS),
            "trait_matrix": matrix,
            "ridge": self.ridge,
            **self.info,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str) -> "Calibration":
        if data.get("format") != CALIBRATION_FORMAT:
            raise ConfigError(f"{origin}: not a persona-iaa calibration file")
        matrix = data.get("trait_matrix")
        rows = (
            None
            if matrix is None
            else np.stack([cast(np.ndarray, _traits_array(matrix.get(c), origin)) for c in COEFFICIENTS])
        )
        base = cast(np.ndarray, _traits_array(data.get("base"), origin, names=COEFFICIENTS))
        info = {
            k: v for k, v in data.items() if k not in ("format", "model", "base", "trait_matrix", "ridge")
        }
        return cls(base, rows, float(data["ridge"]), str(data["model"]), info)

    def save(self, path: Union[str, Path]) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Calibration":
        return cls.from_dict(_read_json(path, "calibration"), str(path))


def _read_json(path: Union[str, Path], what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable {what} file ({type(exc).__name__})") from None


def calibration_path(weights_file: Union[str, Path]) -> Path:
    """Where a model's calibration lives: ``RUN/model.safetensors`` -> ``RUN/model.personal.json``."""
    weights_file = Path(weights_file)
    return weights_file.with_name(weights_file.stem + CALIBRATION_SUFFIX)


def model_fingerprint(model: torch.nn.Module) -> str:
    """A short hash of the model's parameters: profiles and calibrations name the model they belong to."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class PersonalWeights:
    """The weights and offset one person's scores use, and where they came from (for reports)."""

    weights: np.ndarray
    offset: float
    source: str  # "fitted", "traits"

    def apply(self, aesthetic: Any, personality: Any) -> Any:
        """``s_a + w_u . s_p + b_u`` (eq. 5 with personal weights), arrays or tensors alike."""
        return final_score(aesthetic, personality, self.weights, self.offset)


def as_weights(coefficients: np.ndarray, offset: float = 0.0, source: str = "traits") -> PersonalWeights:
    """``alpha s_a + v . s_p + b`` in eq. (5)'s form, same ranking: ``w = v / alpha``, ``b_u = b / alpha``."""
    alpha = max(float(coefficients[0]), MIN_ALPHA)
    return PersonalWeights(np.asarray(coefficients[1:], dtype=np.float64) / alpha, offset / alpha, source)


def personal_weights(profile: Profile, model_id: str, calibration: Optional[Calibration]) -> PersonalWeights:
    """The weights a profile scores with on the model ``model_id``: its own, else those its traits map to."""
    if profile.weights is not None:
        if profile.model != model_id:
            raise ModelError(
                f"this profile's weights were fitted for another model ({profile.model}, this one is "
                f"{model_id}); fit it again with `persona-iaa personalize fit` for this model"
            )
        return PersonalWeights(np.asarray(profile.weights, dtype=np.float64), float(profile.offset), "fitted")
    if calibration is None:
        raise ConfigError(
            "this model has no trait calibration (model.personal.json): run `persona-iaa personalize "
            "calibrate`, or fit the profile from ratings with `persona-iaa personalize fit`"
        )
    if calibration.model != model_id:
        raise ModelError(
            f"the trait calibration was made for another model ({calibration.model}, this one is "
            f"{model_id}); run `persona-iaa personalize calibrate` again"
        )
    if profile.traits is None:
        raise ConfigError("the profile has neither traits nor weights")
    return as_weights(calibration.coefficients_for(profile.traits))
