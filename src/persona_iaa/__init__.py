"""persona-iaa: personality-driven multi-task image aesthetic assessment (Li et al., ICME 2019).

Public API: :func:`build_model` for the network, :func:`load_model` for a ready-to-use predictor.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .constants import TRAITS  # noqa: E402
from .models.pdmtl import IAAOutput, PersonalityDrivenIAA, build_model  # noqa: E402


def load_model(path, device: str = "auto", **options):
    """A :class:`~persona_iaa.inference.predictor.Predictor` for a run directory or model file."""
    from .inference.predictor import Predictor

    return Predictor.from_checkpoint(path, device=device, **options)


__all__ = ["TRAITS", "IAAOutput", "PersonalityDrivenIAA", "build_model", "load_model", "__version__"]
