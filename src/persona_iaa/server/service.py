"""The model behind the HTTP endpoints: decoding threads, the dynamic batcher and Grad-CAM explanations.

Why a separate object: the endpoints only parse, admit and answer; this holds the work and its
resources, started and stopped by the app's lifespan so a SIGTERM lets queued images finish.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch

from ..constants import TRAIT_NAMES, TRAITS
from ..demo import model_caveat
from ..errors import ConfigError, ImageError
from ..inference.engine import Outputs, available_cores, prepare_image
from ..inference.predictor import Predictor

if TYPE_CHECKING:
    from ..models.pdmtl import PersonalityDrivenIAA
from .batching import DynamicBatcher
from .limits import ServerLimits
from .metrics import ServerMetrics
from .uploads import Upload


def _clean_error(message: str) -> str:
    return message.removeprefix("<bytes>: ")


class ScoringService:
    """Scores and explains uploads with one :class:`~persona_iaa.inference.predictor.Predictor`."""

    def __init__(
        self,
        predictor: Predictor,
        limits: ServerLimits,
        metrics: ServerMetrics,
        decode_threads: Optional[int] = None,
    ):
        self.predictor = predictor
        self.limits = limits
        self.metrics = metrics
        self.personality = bool(predictor.meta.get("personality_trained", True))
        self.caveat = model_caveat(predictor.meta)
        engine = predictor.engine
        self.batcher = DynamicBatcher(self._infer, engine.batch_size, engine.threads, on_batch=metrics.batch)
        self._decoders = ThreadPoolExecutor(
            decode_threads or available_cores(), thread_name_prefix="persona-iaa-decode"
        )
        self._explainer = ThreadPoolExecutor(1, thread_name_prefix="persona-iaa-explain")
        self._explain_model: Optional["PersonalityDrivenIAA"] = None
        self._torch_threads: Optional[int] = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the model threads; on a CPU each batch runs on one thread (batches run side by side)."""
        if self.predictor.device.type == "cpu" and self._torch_threads is None:
            self._torch_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        self.batcher.start()

    def stop(self) -> None:
        """Finish what is queued, then free the threads and restore torch's thread count."""
        self.batcher.stop()
        self._decoders.shutdown(wait=True)
        self._explainer.shutdown(wait=True)
        if self._torch_threads is not None:
            torch.set_num_threads(self._torch_threads)
            self._torch_threads = None

    def info(self) -> dict[str, Any]:
        meta = self.predictor.meta
        return {
            "status": "ok",
            "model": meta.get("model"),
            "traits": list(TRAITS),
            "trait_names": TRAIT_NAMES,
            "personality": self.personality,
            "inter_task_weights": self.predictor.inter_task_weights,
            "trained_on": meta.get("trained_on"),
            "warning": self.caveat,
            "limits": self.limits.public(),
        }

    def _infer(self, arrays: list[np.ndarray]) -> Outputs:
        engine = self.predictor.engine
        return engine.runner(engine.model_input(torch.from_numpy(np.stack(arrays))))

    def _prepare(self, upload: Upload) -> tuple[Optional[np.ndarray], Optional[str]]:
        engine = self.predictor.engine
        return prepare_image(upload.read(), engine.transform, engine.draft_size)

    def personal_scorer(self, profile_text: str) -> Any:
        """The :class:`~persona_iaa.personal.scoring.PersonalPredictor` of a profile sent as JSON text.

        Validation is the personal module's own (``Profile.from_dict``, ``personalize``): a malformed
        profile or one fitted for another model raises its one-line ConfigError/ModelError.
        """
        from ..personal.scoring import personalize

        if not self.personality:
            raise ConfigError("this model was trained without the personality task: no personal scores")
        try:
            data = json.loads(profile_text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"profile: not JSON ({exc.msg} at character {exc.pos})") from None
        return personalize(self.predictor, data)

    async def _score_one(self, upload: Upload, person: Any = None) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        array, error = await loop.run_in_executor(self._decoders, self._prepare, upload)
        if array is None:  # an error entry carries the file name and the reason only
            self.metrics.image(ok=False)
            return {"filename": upload.filename, "error": _clean_error(error or "cannot decode")}
        score, aesthetic, traits = await asyncio.wrap_future(self.batcher.submit(array))
        self.metrics.image(ok=True)
        personality = traits if self.personality else (None,) * len(TRAITS)
        row = {
            "filename": upload.filename,
            "score": score,
            "aesthetic": aesthetic,
            **dict(zip(TRAITS, personality)),
        }
        if person is not None:
            row["personal"] = person.personal_score(aesthetic, traits)
        return {**row, "error": None}

    async def score(self, uploads: list[Upload], person: Any = None) -> list[dict[str, Any]]:
        """One result per upload, in order; a bad file is an error entry and never fails the others.
        With ``person`` (:meth:`personal_scorer`), each good result also carries ``personal``."""
        return list(await asyncio.gather(*(self._score_one(u, person) for u in uploads)))

    def _explain_sync(self, data: bytes, filename: str, fmt: str) -> Any:
        from ..inference.explain import explain_image, figure_png

        with self._lock:
            if self._explain_model is None:  # a private copy: hooks and gradients never touch the scorer
                self._explain_model = copy.deepcopy(self.predictor.model).eval()
            try:
                explanation = explain_image(
                    self._explain_model,
                    self.predictor.preprocessing,
                    data,
                    self.predictor.device,
                    personality=self.personality,
                )
            except ImageError as exc:
                raise ImageError(_clean_error(str(exc))) from None
            if fmt == "json":
                return explanation_json(explanation, filename)
            return figure_png(explanation, title=filename)

    async def explain(self, upload: Upload, fmt: str) -> Any:
        """One upload's Grad-CAM figure (PNG bytes, ``fmt="png"``) or :func:`explanation_json` (ImageError
        for a bad image). One thread draws them all: matplotlib's figure state is not thread-safe."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._explainer, self._explain_sync, upload.read(), upload.filename, fmt
        )


def explanation_json(explanation: Any, filename: str) -> dict[str, Any]:
    """Scores, traits and one overlay PNG (base64) per map: the pictures of the ``explain`` figure."""
    from ..inference.explain import TARGET_LABELS, colour_scale, overlay_image, png_bytes

    def encoded(pixels: np.ndarray) -> str:
        return base64.b64encode(png_bytes(pixels)).decode("ascii")

    photo = explanation.photo
    return {
        "filename": filename,
        "score": explanation.score,
        "aesthetic": explanation.aesthetic,
        "traits": explanation.traits or None,
        "photo_png": encoded(photo) if photo is not None else None,
        "maps": {
            t: {
                "label": TARGET_LABELS[t],
                "flat": bool(explanation.flat.get(t)),
                "png": encoded(overlay_image(explanation, t)),
            }
            for t in explanation.targets
        },
        "crop_box": list(explanation.crop_box),
        "colour_scale": colour_scale(),
    }
