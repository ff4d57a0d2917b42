"""Format options as users type them: ``LOW,HIGH`` ranges, and the hints that errors give about them.

A hint must work when copied: the same option is ``data.aesthetic_options.KEY=VALUE`` for ``train`` and
``-o KEY=VALUE`` for ``datasets inspect`` and ``prepare``, so a hint names both.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

from ..errors import DataError

RangeValue = Union[str, Sequence[float], None]


def option_hint(task: str, key: str, value: str) -> str:
    """How to set format option ``key`` of ``task``'s data, written the way each command takes it."""
    return f"data.{task}_options.{key}={value} (train) or -o {key}={value} (datasets inspect, prepare)"


def parse_range(value: RangeValue, name: str) -> Optional[tuple[float, float]]:
    """``"LOW,HIGH"`` or a two-number list (as YAML reads ``[1, 10]``) -> (low, high); None stays None."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        low, high = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be LOW,HIGH, got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        raise DataError(f"{name} must have finite LOW < HIGH, got {value!r}")
    return low, high


def suggested_range(low: float, high: float, common: Sequence[tuple[float, float]]) -> str:
    """The first common scale holding [low, high], else the integers around it, as ``LOW,HIGH``."""
    lo, hi = next(((a, b) for a, b in common if a <= low and high <= b),
                  (math.floor(low), max(math.ceil(high), math.floor(low) + 1)))
    return f"{lo:g},{hi:g}"
