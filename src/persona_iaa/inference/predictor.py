"""A trained model with its preprocessing built in: ``load_model(run_dir).score(paths_or_images)``.

The predictor is a thin front of :class:`~persona_iaa.inference.engine.ScoringEngine`, the engine
that ``persona-iaa score`` runs, so the Python API and the CLI give the same numbers.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Union, cast

import torch

from ..data.transforms import Preprocessing
from ..models.io import load_trained_model, resolve_model_path
from ..runtime import resolve_device
from .engine import ImageLike, ScoreResult, ScoringEngine, ScoringOptions
from .runners import Runner, build_runner

if TYPE_CHECKING:
    from ..models.pdmtl import PersonalityDrivenIAA

__all__ = ["Predictor", "ScoreResult", "ImageLike"]


class Predictor:
    """Scores paths, bytes or PIL images. Options are those of :class:`ScoringOptions`
    (``batch_size``, ``workers``, ``precision``, ``engine``, ``fast_decode``, ``threads``,
    ``decode_timeout``); ``engine_name`` says which engine ``auto`` chose (``torch`` or ``onnx``)."""

    def __init__(self, model: torch.nn.Module, preprocessing: Preprocessing, device: torch.device,
                 meta: Optional[dict[str, Any]] = None, *, checkpoint: Optional[Path] = None, **options: Any):
        self.model = cast("PersonalityDrivenIAA", model.to(device).eval())
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
        self.engine_name, runner = build_runner(
            self.model, self.preprocessing, self.device, engine=self.options.engine,
            precision=self.options.precision, batch_size=self.options.resolved_batch_size(self.device),
            checkpoint=checkpoint)
        return runner

    @property
    def personality_trained(self) -> bool:
        """False for a model trained without the personality task: its trait head is untrained."""
        return bool(self.meta.get("personality_trained", True))

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
        With ``profile``, results also carry that person's ``personal`` score (see :meth:`personalize`).

        A model trained without the personality task gives no traits (None): its trait head never learnt.
        """
        if profile is not None:
            return self.personalize(profile).score(images, batch_size=batch_size)
        results = self.engine.score(images, batch_size=batch_size)
        if self.personality_trained:
            return results
        return (dataclasses.replace(r, personality=None) for r in results)
