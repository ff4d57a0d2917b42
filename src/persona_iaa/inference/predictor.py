"""A trained model with its preprocessing built in: ``load_model(run_dir).score(paths_or_images)``.

The predictor is a thin front of :class:`~persona_iaa.inference.engine.ScoringEngine`, the engine
that ``persona-iaa score`` runs, so the Python API and the CLI give the same numbers.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import torch

from ..data.transforms import Preprocessing
from ..errors import first_line
from ..runtime import resolve_device
from ..training.checkpoint import load_trained_model, resolve_model_path
from .engine import ImageLike, Runner, ScoreResult, ScoringEngine, ScoringOptions, TorchRunner

__all__ = ["Predictor", "ScoreResult", "ImageLike"]


class Predictor:
    """Scores paths, bytes or PIL images. Options are those of :class:`ScoringOptions`
    (``batch_size``, ``workers``, ``precision``, ``engine``, ``fast_decode``, ``threads``);
    ``engine_name`` says which engine ``auto`` chose (``torch`` or ``onnx``)."""

    def __init__(self, model: torch.nn.Module, preprocessing: Preprocessing, device: torch.device,
                 meta: Optional[dict[str, Any]] = None, *, checkpoint: Optional[Path] = None, **options: Any):
        self.model = model.to(device).eval()
        self.preprocessing = preprocessing
        self.device = device
        self.meta = meta or {}
        self.options = ScoringOptions(**options)
        self.weights_file = resolve_model_path(checkpoint)[0] if checkpoint is not None else None
        self.engine_name = self.options.resolved_engine(device)
        self.engine = ScoringEngine(self._runner(checkpoint), preprocessing, self.options, device)

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], device: str = "auto", **options: Any) -> "Predictor":
        device_ = resolve_device(device)
        model, pre, meta = load_trained_model(path, device_)
        return cls(model, pre, device_, meta, checkpoint=Path(path), **options)

    def _runner(self, checkpoint: Optional[Path]) -> Runner:
        if self.engine_name == "onnx":
            from .export import onnx_runner

            try:
                return onnx_runner(self.model, self.preprocessing, self.device, checkpoint)
            except Exception as exc:
                if self.options.engine != "auto":
                    raise
                warnings.warn(f"this model does not export to ONNX ({first_line(exc)}); scoring with PyTorch instead",
                              stacklevel=3)
                self.engine_name = "torch"
        crop = self.preprocessing.crop_size
        example = torch.randn(self.options.resolved_batch_size(self.device), 3, crop, crop,
                              generator=torch.Generator().manual_seed(0))
        return TorchRunner(self.model, self.device, self.options.precision, example)

    @property
    def inter_task_weights(self) -> dict[str, float]:
        return self.model.inter_task_weights()

    @functools.cached_property
    def fingerprint(self) -> str:
        """Which model this is, as profiles and calibrations record it."""
        from ..personal.profile import model_fingerprint

        return model_fingerprint(self.model)

    def personalize(self, profile: Any, calibration: Any = None) -> Any:
        """A :class:`~persona_iaa.personal.scoring.PersonalPredictor` for one person's profile (a
        ``Profile``, its JSON as a dict, or a path): results gain a ``personal`` score."""
        from ..personal.scoring import personalize

        return personalize(self, profile, calibration)

    def score(self, images: Iterable[ImageLike], batch_size: Optional[int] = None,
              profile: Any = None) -> Iterator[ScoreResult]:
        """Yield one :class:`ScoreResult` per input, in input order; bad images become error results.
        With ``profile``, results also carry that person's ``personal`` score (see :meth:`personalize`)."""
        if profile is not None:
            return self.personalize(profile).score(images, batch_size=batch_size)
        return self.engine.score(images, batch_size=batch_size)
