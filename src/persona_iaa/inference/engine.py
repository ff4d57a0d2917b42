"""The scoring engine behind ``persona-iaa score`` and :meth:`Predictor.score`, composed of named parts.

* :mod:`.decoding`: worker processes decode, resize and crop images (the slow, single-threaded part
  for photo-sized files) and send back uint8 crops; a crash or a stalled read costs one error row.
* :mod:`.batching`: crops become batches, normalised here and scored a few at once, results in order.
* :mod:`.runners`: the model itself (PyTorch or onnxruntime), chosen once when the model loads.
* :mod:`.results`: :class:`ScoreResult` and the output-file columns.

On CPUs the model scores several batches at once, each on one thread: single-threaded stages share the
cores without OpenMP barrier stalls, whatever the balance of decoding and model work. That thread
setting is process-wide in torch, so it is declared when the engine is built (``torch_settings``) and
applied only while a scoring generator runs: it is restored when scoring ends, fails, or is closed or
dropped part-way. A bounded window of images is in flight, so memory stays flat on any collection size;
results come back in input order and do not depend on the batch size or the numbers of workers and threads.
"""
from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator, Optional

import numpy as np
import torch

from ..constants import SCORE_PRECISIONS as PRECISIONS  # noqa: F401  (kept importable from here)
from ..data.images import read_image  # noqa: F401  (kept importable from here)
from ..data.transforms import Preprocessing, Transform, eval_geometry, model_input
from ..errors import ConfigError
from .batching import finished as _finished  # noqa: F401  (kept importable from here)
from .batching import images_held, score_in_batches
from .decoding import DEFAULT_TIMEOUT, DecodeSetup, decode_in_order, prepare_image  # noqa: F401
from .results import RESULT_COLUMNS, ImageLike, ScoreResult, image_name  # noqa: F401
from .runners import (  # noqa: F401  (the runners lived here; their names stay importable)
    ENGINES,
    OnnxRunner,
    Outputs,
    PlainOutputs,
    Runner,
    TorchRunner,
    TorchSettings,
    onnx_runtime_installed,
    resolve_engine,
)

CPU = torch.device("cpu")  # the default device, made once (not a call in a signature)
#: Images in flight per worker beyond one batch: enough to keep the workers busy during inference.
_AHEAD_PER_WORKER = 4


@dataclasses.dataclass(frozen=True)
class ScoringOptions:
    """How to score.

    ``workers`` decoding processes (default: one per CPU core; 0 decodes in this process) feed
    ``threads`` batches scored at once (CPU default: one per core, at most 8; GPU: 1). On a CPU each
    batch runs on one thread: torch's own multi-threading stalls at every layer when a decoding
    process or another program takes one of its cores, while one-thread stages simply share them.
    ``batch_size`` defaults to 8 on CPUs (larger batches fall out of the caches) and 32 on GPUs.
    ``fast_decode`` lets JPEGs decode at 1/2 to 1/8 size (never below the resize size): several
    times faster on photo-sized files, at the price of scores that differ by about 1e-3.
    ``engine="auto"`` runs fp32 on CPUs with onnxruntime (about 1.3x faster than eager PyTorch there,
    same scores within 1e-6) when it is installed, and PyTorch otherwise.
    ``decode_timeout`` seconds (None: no limit) bound the reading and decoding of one image in a
    decoding process: a file on a stalled mount becomes an error row instead of stopping the run.
    """

    batch_size: Optional[int] = None
    workers: Optional[int] = None
    precision: str = "fp32"
    engine: str = "auto"
    fast_decode: bool = False
    threads: Optional[int] = None
    decode_timeout: Optional[float] = DEFAULT_TIMEOUT
    #: CUDA only: plain JPEGs decode with nvJPEG on the model's GPU, in this process (others on the CPU)
    gpu_decode: bool = False

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {self.batch_size}")
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be 0 (decode in this process) or more, got {self.workers}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.engine == "onnx" and self.precision != "fp32":
            raise ConfigError("the onnx engine runs in fp32 only; use --engine torch for --precision bf16")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")
        if self.decode_timeout is not None and not self.decode_timeout > 0:
            raise ConfigError("decode timeout must be a positive number of seconds, "
                              f"got {self.decode_timeout}")

    def resolved_batch_size(self, device: torch.device) -> int:
        return self.batch_size or (32 if device.type == "cuda" else 8)

    def resolved_workers(self) -> int:
        return self.workers if self.workers is not None else available_cores()

    def resolved_engine(self, device: torch.device) -> str:
        return resolve_engine(self.engine, device, self.precision)

    def resolved_threads(self, device: torch.device) -> int:
        if self.threads is not None:
            return self.threads
        return 1 if device.type == "cuda" else min(available_cores(), 8)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ScoringEngine:
    """Scores an iterable of paths, bytes or PIL images with a runner; see the module docstring.

    ``torch_settings`` is the process-wide torch state applied while scoring runs: by default one
    intra-op thread per batch on CPUs, plus whatever the runner needs (its ``settings``, e.g. oneDNN
    fusion for the fused graph).
    """

    def __init__(self, runner: Runner, preprocessing: Preprocessing,
                 options: ScoringOptions = ScoringOptions(), device: torch.device = CPU,
                 torch_settings: Optional[TorchSettings] = None):
        self.runner = runner
        self.preprocessing = preprocessing
        self.options = options
        self.device = device
        self.batch_size = options.resolved_batch_size(device)
        self.threads = options.resolved_threads(device)
        self.model_input = model_input(preprocessing)  # here, on each batch
        # in the decoding processes: uint8 crops
        self.decode_setup = DecodeSetup(eval_geometry(preprocessing),
                                        preprocessing.image_size if options.fast_decode else None,
                                        options.decode_timeout,
                                        str(device) if options.gpu_decode and device.type == "cuda" else None)
        if torch_settings is None:
            torch_settings = TorchSettings(threads=1 if device.type == "cpu" else None)
            torch_settings = torch_settings.merged(getattr(runner, "settings", TorchSettings()))
        self.torch_settings = torch_settings

    @property
    def transform(self) -> Transform:
        return self.decode_setup.transform

    @property
    def draft_size(self) -> Optional[int]:
        return self.decode_setup.draft_size

    def _decode_window(self, batch_size: int) -> int:
        """Images submitted to the decoding processes and not yet taken back: enough to keep the
        batches being scored fed and every worker busy meanwhile."""
        return images_held(self.threads, batch_size) + _AHEAD_PER_WORKER * self.options.resolved_workers()

    def images_ahead(self, batch_size: Optional[int] = None) -> int:
        """Most inputs pulled from the iterable beyond the results yielded so far (when they all decode):
        the decoding window plus the batches being scored and the one filling."""
        batch_size = batch_size or self.batch_size
        window = self._decode_window(batch_size) if self.options.resolved_workers() else 1
        return images_held(self.threads, batch_size) + window

    def score(self, images: Iterable[ImageLike], batch_size: Optional[int] = None) -> Iterator[ScoreResult]:
        """Yield one :class:`ScoreResult` per input, in input order; bad images become error results."""
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        return self._score(images, batch_size or self.batch_size)

    def _score(self, images: Iterable[ImageLike], batch_size: int) -> Iterator[ScoreResult]:
        # The settings are applied before the model threads start: new threads take torch's thread count.
        with self.torch_settings.applied(), \
                ThreadPoolExecutor(self.threads, thread_name_prefix="persona-iaa-model") as model_threads:
            prepared = decode_in_order(images, self.decode_setup, self.options.resolved_workers(),
                                       self._decode_window(batch_size))
            yield from score_in_batches(prepared, batch_size, self.threads, self._infer, model_threads)

    def _infer(self, arrays: list[np.ndarray]) -> Outputs:
        return self.runner(self.model_input(torch.from_numpy(np.stack(arrays))))
