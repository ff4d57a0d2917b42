"""A trained model with its preprocessing built in: ``load_model(run_dir).score(paths_or_images)``.

The predictor is a thin front of :class:`~persona_iaa.inference.engine.ScoringEngine`, the engine
that ``persona-iaa score`` runs, so the Python API and the CLI give the same numbers.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import torch

from ..data.transforms import Preprocessing
from ..errors import first_line
from ..runtime import resolve_device
from ..training.checkpoint import load_trained_model
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
    def personality_trained(self) -> bool:
        """False for a model trained without the personality task: its trait head is untrained."""
        return bool(self.meta.get("personality_trained", True))

    @property
    def inter_task_weights(self) -> dict[str, float]:
        return self.model.inter_task_weights()

    def score(self, images: Iterable[ImageLike], batch_size: Optional[int] = None) -> Iterator[ScoreResult]:
        """Yield one :class:`ScoreResult` per input, in input order; bad images become error results.

        A model trained without the personality task gives no traits (None): its trait head never learnt.
        """
        results = self.engine.score(images, batch_size=batch_size)
        if self.personality_trained:
            return results
        return (dataclasses.replace(r, personality=None) for r in results)
