"""Exceptions users see as one clear line (the CLI prints `error: <message>` and exits 2)."""
from __future__ import annotations


class PersonaIAAError(Exception):
    """Base class: anything raised on purpose for bad input or configuration."""


class DataError(PersonaIAAError):
    """A dataset argument, label file or image folder is missing or malformed."""


class ConfigError(PersonaIAAError):
    """A configuration key or value is unknown or invalid."""


class ModelError(PersonaIAAError):
    """An unknown backbone, unavailable weights or an incompatible checkpoint."""


class ImageError(PersonaIAAError):
    """One image could not be decoded; carries a one-line reason."""


class TrainingError(PersonaIAAError):
    """Training cannot go on (a non-finite loss, a checkpoint that does not fit the run)."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (its type name if it has none), for one-line
    reports."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]
