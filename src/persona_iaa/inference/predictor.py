"""A trained model with its preprocessing built in: ``load_model(run_dir).score(paths_or_images)``."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import torch
from PIL import Image

from ..constants import TRAITS
from ..data.images import open_image
from ..data.transforms import Preprocessing, eval_transform
from ..errors import ImageError
from ..training.checkpoint import load_trained_model
from ..runtime import resolve_device

ImageLike = Union[str, Path, Image.Image, bytes]


@dataclasses.dataclass
class ScoreResult:
    """One image's result; on failure the numbers are None and ``error`` says why in one line."""

    path: str
    score: Optional[float] = None
    aesthetic: Optional[float] = None
    personality: Optional[tuple[float, ...]] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def traits(self) -> dict[str, float]:
        return dict(zip(TRAITS, self.personality)) if self.personality is not None else {}

    def as_row(self) -> dict[str, Any]:
        """Flat row: path, score, aesthetic, O, C, E, A, N, error (the output-file columns)."""
        row: dict[str, Any] = {"path": self.path, "score": self.score, "aesthetic": self.aesthetic}
        row.update({t: (self.personality[i] if self.personality is not None else None) for i, t in enumerate(TRAITS)})
        row["error"] = self.error
        return row


class Predictor:
    def __init__(self, model: torch.nn.Module, preprocessing: Preprocessing, device: torch.device,
                 meta: Optional[dict[str, Any]] = None):
        self.model = model.to(device).eval()
        self.preprocessing = preprocessing
        self.transform = eval_transform(preprocessing)
        self.device = device
        self.meta = meta or {}

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], device: str = "auto") -> "Predictor":
        device_ = resolve_device(device)
        model, pre, meta = load_trained_model(path, device_)
        return cls(model, pre, device_, meta)

    @property
    def inter_task_weights(self) -> dict[str, float]:
        return self.model.inter_task_weights()

    def _name(self, item: ImageLike, index: int) -> str:
        if isinstance(item, (str, Path)):
            return str(item)
        return getattr(item, "filename", None) or f"<image {index}>"

    @torch.inference_mode()
    def predict_batch(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(batch.to(self.device))
        return out.score.float().cpu(), out.aesthetic.float().cpu(), out.personality.float().cpu()

    def score(self, images: Iterable[ImageLike], batch_size: int = 32) -> Iterator[ScoreResult]:
        """Yield one :class:`ScoreResult` per input, in input order; bad images become error results."""
        pending: list[tuple[ScoreResult, Optional[torch.Tensor]]] = []

        def flush() -> Iterator[ScoreResult]:
            tensors = [t for _, t in pending if t is not None]
            if tensors:
                scores, aesthetics, traits = self.predict_batch(torch.stack(tensors))
                k = 0
                for result, tensor in pending:
                    if tensor is not None:
                        result.score, result.aesthetic = float(scores[k]), float(aesthetics[k])
                        result.personality = tuple(float(v) for v in traits[k])
                        k += 1
            yield from (r for r, _ in pending)
            pending.clear()

        for index, item in enumerate(images):
            result = ScoreResult(self._name(item, index))
            try:
                pending.append((result, self.transform(open_image(item))))
            except ImageError as exc:
                result.error = str(exc)
                pending.append((result, None))
            if sum(t is not None for _, t in pending) >= batch_size:
                yield from flush()
        yield from flush()
