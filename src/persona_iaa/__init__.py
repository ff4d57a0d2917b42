"""persona-iaa: personality-driven multi-task image aesthetic assessment (Li et al., ICME 2019).

Public API: :func:`build_model` for the network, :func:`load_model` for a ready-to-use predictor.
Torch is imported on first use of either, so dataset tools and ``--help`` start fast.
"""
from __future__ import annotations

from typing import Any

from .constants import TRAITS

__version__ = "0.1.0"
_MODEL_NAMES = ("build_model", "PersonalityDrivenIAA", "IAAOutput")


def load_model(path, device: str = "auto", **options):
    """A :class:`~persona_iaa.inference.predictor.Predictor` for a run directory or model file."""
    from .inference.predictor import Predictor

    return Predictor.from_checkpoint(path, device=device, **options)


def __getattr__(name: str) -> Any:
    if name in _MODEL_NAMES:
        from .models import pdmtl

        return getattr(pdmtl, name)
    raise AttributeError(f"module 'persona_iaa' has no attribute {name!r}")


__all__ = ["TRAITS", "IAAOutput", "PersonalityDrivenIAA", "build_model", "load_model", "__version__"]
