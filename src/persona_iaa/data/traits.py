"""Big-Five trait scales as distributed, mapped to the model's [-1, 1]."""
from __future__ import annotations

import re
from typing import Any, Optional, Sequence

import numpy as np

from ..constants import TRAITS
from ..errors import DataError
from .options import option_hint, parse_range, suggested_range

#: name -> (low, high) of the raw scale; each maps linearly onto [-1, 1].
TRAIT_SCALES: dict[str, tuple[float, float]] = {
    "unit": (-1.0, 1.0),  # already normalised
    "bfi10": (2.0, 10.0),  # BFI-10 sums of two 1..5 items: (x - 6) / 4
    "items": (-4.0, 4.0),  # sums of two -2..+2 items: x / 4
}


#: Header spellings of each trait once lower-cased, stripped of non-letters and of a ``personality`` prefix
#: (PARA writes ``personality-E``; other tables write ``O`` or ``Openness``).
TRAIT_HEADERS: dict[str, str] = {
    "o": "O", "openness": "O", "open": "O",
    "c": "C", "conscientiousness": "C",
    "e": "E", "extraversion": "E", "extroversion": "E",
    "a": "A", "agreeableness": "A",
    "n": "N", "neuroticism": "N",
}


def trait_of_header(name: str) -> Optional[str]:
    """The trait letter a column header names, or None."""
    return TRAIT_HEADERS.get(re.sub(r"[^a-z]", "", name.lower()).removeprefix("personality"))


def trait_columns(header: Sequence[str]) -> Optional[list[int]]:
    """Column indices of O, C, E, A, N (in that order) when the header names each trait exactly once."""
    found: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        trait = trait_of_header(name)
        if trait:
            found.setdefault(trait, []).append(index)
    if all(len(found.get(t, ())) == 1 for t in TRAITS):
        return [found[t][0] for t in TRAITS]
    return None


#: Raw scales suggested (the first that holds every value) when traits match no known one: item means
#: on 1..5 (BFI) or 1..7 (TIPI), and percentiles.
COMMON_TRAIT_RANGES: tuple[tuple[float, float], ...] = ((1, 5), (1, 7), (0, 100))


def _scale_hint(low: float, high: float) -> str:
    return "declare the raw scale: " + option_hint("personality", "trait_scale",
                                                   suggested_range(low, high, COMMON_TRAIT_RANGES))


def _prefix(origin: str) -> str:
    return f"{origin}: " if origin else ""


def detect_trait_scale(values: np.ndarray, origin: str = "") -> str:
    """The narrowest known scale that holds every value; an error names the observed range."""
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    for name in ("unit", "items", "bfi10"):
        lo, hi = TRAIT_SCALES[name]
        if lo - 1e-9 <= low and high <= hi + 1e-9:
            # Values in [2, 10] that are also in [-4, 4] are ambiguous; integers >= 2 only mean BFI-10.
            if name == "items" and low >= 2 and np.allclose(values, np.round(values)):
                return "bfi10"
            return name
    raise DataError(
        f"{_prefix(origin)}trait values span [{low:g}, {high:g}], which matches no known scale "
        f"({', '.join(f'{k}: {v[0]:g}..{v[1]:g}' for k, v in TRAIT_SCALES.items())}); "
        f"{_scale_hint(low, high)}"
    )


def trait_range(scale: Any) -> tuple[float, float]:
    """(low, high) of a named scale (a TRAIT_SCALES key) or of a declared ``LOW,HIGH`` range."""
    if isinstance(scale, str) and scale in TRAIT_SCALES:
        return TRAIT_SCALES[scale]
    if isinstance(scale, str) and "," not in scale:
        raise DataError(f"unknown trait_scale {scale!r}; choose auto, one of {', '.join(TRAIT_SCALES)} "
                        "or the raw range as LOW,HIGH")
    return parse_range(scale, "trait_scale")  # type: ignore[return-value]


def resolve_trait_scale(values: np.ndarray, scale: Any = "auto", origin: str = "") -> str:
    """``auto`` resolved against the values; a declared range written back as ``LOW,HIGH``."""
    if isinstance(scale, str) and (scale == "auto" or scale in TRAIT_SCALES):
        return detect_trait_scale(values, origin) if scale == "auto" else scale
    lo, hi = trait_range(scale)
    return f"{lo:g},{hi:g}"


def normalise_traits(rows: Sequence[Sequence[float]], scale: Any = "auto", origin: str = "") -> np.ndarray:
    """Rows of five raw trait values -> float array in [-1, 1].

    ``scale``: auto, a TRAIT_SCALES key, or the raw range as ``LOW,HIGH`` (``1,5`` for BFI item means).
    """
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    scale = resolve_trait_scale(values, scale, origin)
    lo, hi = trait_range(scale)
    normalised = (values - (lo + hi) / 2) / ((hi - lo) / 2)
    if np.nanmin(normalised) < -1 - 1e-6 or np.nanmax(normalised) > 1 + 1e-6:
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        raise DataError(f"{_prefix(origin)}trait values span [{low:g}, {high:g}], "
                        f"outside the declared {scale} scale {lo:g}..{hi:g}; {_scale_hint(low, high)}")
    return normalised
