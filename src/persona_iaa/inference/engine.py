"""The scoring engine behind ``persona-iaa score`` and :meth:`Predictor.score`.

Worker processes decode, resize and crop images (the slow, single-threaded part for photo-sized
files) and send back uint8 crops, normalised a batch at a time for inference in the main process
(``inference_mode``, channels-last, optional bf16 autocast). On CPUs the model scores several batches at once, each on one thread: single-threaded
stages share the cores without OpenMP barrier stalls, whatever the balance of decoding and model
work. A bounded window of images is in flight, so memory stays flat on any collection size; results
come back in input order and do not depend on the batch size or the numbers of workers and threads.
A file that crashes its decoder process becomes one error row and takes no other image with it.
"""
from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import multiprocessing
import os
import signal
import sys
import warnings
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image

from ..constants import SCORE_ENGINES as ENGINES, SCORE_PRECISIONS as PRECISIONS, TRAITS
from ..data.images import read_image
from ..data.transforms import Preprocessing, Transform, eval_geometry, model_input
from ..errors import ConfigError, ImageError, first_line

ImageLike = Union[str, os.PathLike, Image.Image, bytes]
#: What a runner returns for a batch: score [N], aesthetic [N], personality [N, 5] as float32 arrays.
Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]
Runner = Callable[[torch.Tensor], Outputs]

#: Images in flight per worker beyond one batch: enough to keep the workers busy during inference.
_AHEAD_PER_WORKER = 4


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


#: The output-file columns, in order.
RESULT_COLUMNS: tuple[str, ...] = tuple(ScoreResult("").as_row())


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
    """

    batch_size: Optional[int] = None
    workers: Optional[int] = None
    precision: str = "fp32"
    engine: str = "auto"
    fast_decode: bool = False
    threads: Optional[int] = None

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

    def resolved_batch_size(self, device: torch.device) -> int:
        return self.batch_size or (32 if device.type == "cuda" else 8)

    def resolved_workers(self) -> int:
        return self.workers if self.workers is not None else available_cores()

    def resolved_engine(self, device: torch.device) -> str:
        if self.engine != "auto":
            return self.engine
        return "onnx" if device.type == "cpu" and self.precision == "fp32" and onnx_runtime_installed() else "torch"

    def resolved_threads(self, device: torch.device) -> int:
        if self.threads is not None:
            return self.threads
        return 1 if device.type == "cuda" else min(available_cores(), 8)


def onnx_runtime_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class PlainOutputs(torch.nn.Module):
    """The model with a plain tuple of outputs, the form tracers and the ONNX exporter expect."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(images)
        return out.score, out.aesthetic, out.personality


class TorchRunner:
    """PyTorch inference: channels-last memory and, for ``bf16``, autocast.

    On CPUs, given an ``example`` batch, the model runs as a frozen TorchScript graph with oneDNN Graph
    fusion (convolution, batch norm, ReLU and concatenation fused into few kernels): the eager model
    spends most of its bf16 time in separate batch-norm, ReLU and concatenation passes. On the 2-core
    test machine densenet121 ran about 2.3x (bf16) and 1.3x (fp32) faster that way. A model that does not
    trace, or whose graph disagrees with the eager model, runs eagerly with a warning.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: str = "fp32",
                 example: Optional[torch.Tensor] = None):
        self.model = model.to(device).eval().to(memory_format=torch.channels_last)
        self.eager = PlainOutputs(self.model)
        self.device = device
        self.autocast_dtype = torch.bfloat16 if precision == "bf16" else None
        self.graph = self._fused_graph(example) if device.type == "cpu" and example is not None else None

    def _autocast(self) -> torch.autocast:
        # TorchScript under autocast needs the weight-cast cache off (torch's documented recipe).
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                              enabled=self.autocast_dtype is not None, cache_enabled=False)

    def _fused_graph(self, example: torch.Tensor) -> Optional[torch.jit.ScriptModule]:
        example = example.contiguous(memory_format=torch.channels_last)
        try:
            torch.jit.enable_onednn_fusion(True)
            with warnings.catch_warnings(), torch.no_grad(), self._autocast():
                warnings.simplefilter("ignore")  # torch.jit announces its deprecation
                graph = torch.jit.freeze(torch.jit.trace(self.eager.eval(), example, check_trace=False))
                for _ in range(2):  # the profiling executor fuses on the second run
                    graph(example)
                single = example[:1]
                tolerance = 1e-4 if self.autocast_dtype is None else 0.05
                for fused, eager in zip(graph(single), self.eager(single)):
                    if fused.shape != eager.shape or not torch.allclose(fused.float(), eager.float(), atol=tolerance):
                        raise ValueError("the traced graph disagrees with the model")
            return graph
        except Exception as exc:
            warnings.warn(f"running the model eagerly: it does not trace to a fused graph ({first_line(exc)})",
                          stacklevel=3)
            return None

    def __call__(self, batch: torch.Tensor) -> Outputs:
        batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self._autocast():
            outputs = (self.graph if self.graph is not None else self.eager)(batch)
        return tuple(t.float().cpu().numpy() for t in outputs)  # type: ignore[return-value]


def image_name(item: ImageLike, index: int) -> str:
    """The ``path`` column: the path, a PIL image's file name, or the position in the input."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    return getattr(item, "filename", None) or f"<image {index}>"


def prepare_image(item: ImageLike, transform: Transform, draft_size: Optional[int]
                  ) -> tuple[Optional[np.ndarray], Optional[str]]:
    """Decode and transform one image: ``(array, None)`` or ``(None, one-line reason)``, never raises."""
    try:
        return transform(read_image(item, draft_size=draft_size)).numpy(), None
    except ImageError as exc:
        return None, str(exc)
    except Exception as exc:  # a transform failing on one odd image must not stop a 100k-image run
        return None, f"cannot prepare this image ({type(exc).__name__}: {first_line(exc)})"


_worker_setup: Optional[tuple[Transform, Optional[int]]] = None


def _init_worker(transform: Transform, draft_size: Optional[int]) -> None:
    """One thread per decoding process (more would fight the model for the cores); Ctrl-C and the
    parent's death are handled by the parent, so workers never linger as orphans."""
    global _worker_setup
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    _worker_setup = (transform, draft_size)


def _prepare_in_worker(item: ImageLike) -> tuple[Optional[np.ndarray], Optional[str]]:
    assert _worker_setup is not None
    return prepare_image(item, *_worker_setup)


def _process_context() -> multiprocessing.context.BaseContext:
    """Fork where it is safe and fast (Linux): workers start in milliseconds without re-importing torch."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


class ScoringEngine:
    """Scores an iterable of paths, bytes or PIL images with a runner; see the module docstring."""

    def __init__(self, runner: Runner, preprocessing: Preprocessing, options: ScoringOptions = ScoringOptions(),
                 device: torch.device = torch.device("cpu")):
        self.runner = runner
        self.preprocessing = preprocessing
        self.options = options
        self.device = device
        self.batch_size = options.resolved_batch_size(device)
        self.threads = options.resolved_threads(device)
        self.transform = eval_geometry(preprocessing)  # in the decoding processes: uint8 crops
        self.model_input = model_input(preprocessing)  # here, on each batch
        self.draft_size = preprocessing.image_size if options.fast_decode else None

    def score(self, images: Iterable[ImageLike], batch_size: Optional[int] = None) -> Iterator[ScoreResult]:
        """Yield one :class:`ScoreResult` per input, in input order; bad images become error results."""
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        batch_size = batch_size or self.batch_size
        previous_threads = torch.get_num_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(1)  # per batch; batches run side by side instead
        try:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="persona-iaa-model") as model_threads:
                yield from self._score_in_batches(images, batch_size, model_threads)
        finally:
            torch.set_num_threads(previous_threads)

    def _score_in_batches(self, images: Iterable[ImageLike], batch_size: int, model_threads: ThreadPoolExecutor
                          ) -> Iterator[ScoreResult]:
        # Segments of results in input order, each with the batch they wait for (None: errors only).
        segments: deque[tuple[list[ScoreResult], Optional[Future]]] = deque()
        waiting: list[ScoreResult] = []
        arrays: list[np.ndarray] = []
        try:
            for index, (item, array, error) in enumerate(self._prepared(images, batch_size)):
                waiting.append(ScoreResult(image_name(item, index), error=error))
                if array is not None:
                    arrays.append(array)
                if len(arrays) == batch_size or not arrays:
                    segments.append((waiting, model_threads.submit(self._infer, arrays) if arrays else None))
                    waiting, arrays = [], []
                while segments and (segments[0][1] is None or segments[0][1].done()
                                    or sum(f is not None for _, f in segments) > self.threads):
                    yield from _finished(*segments.popleft())
            if waiting:
                segments.append((waiting, model_threads.submit(self._infer, arrays)))
            while segments:
                yield from _finished(*segments.popleft())
        finally:  # stopped early: drop the batches nobody will read
            for _, future in segments:
                if future is not None:
                    future.cancel()

    def _infer(self, arrays: list[np.ndarray]) -> Outputs:
        return self.runner(self.model_input(torch.from_numpy(np.stack(arrays))))

    def _prepared(self, images: Iterable[ImageLike], batch_size: int
                  ) -> Iterator[tuple[ImageLike, Optional[np.ndarray], Optional[str]]]:
        workers = self.options.resolved_workers()
        if workers == 0:
            for item in images:
                yield (item, *prepare_image(item, self.transform, self.draft_size))
            return
        yield from _decode_in_workers(
            images, workers, in_flight=(self.threads + 1) * batch_size + _AHEAD_PER_WORKER * workers,
            initargs=(self.transform, self.draft_size),
        )


def _finished(results: list[ScoreResult], batch: Optional[Future]) -> list[ScoreResult]:
    """Fill the scored results of one segment from its batch outputs (in order)."""
    if batch is not None:
        scores, aesthetics, traits = batch.result()
        scored = (r for r in results if r.ok)
        for k, result in enumerate(scored):
            result.score, result.aesthetic = float(scores[k]), float(aesthetics[k])
            result.personality = tuple(float(v) for v in traits[k])
    return results


def _decode_in_workers(images: Iterable[ImageLike], workers: int, *, in_flight: int, initargs: tuple
                       ) -> Iterator[tuple[ImageLike, Optional[np.ndarray], Optional[str]]]:
    """Ordered parallel decoding with at most ``in_flight`` images submitted and not yet yielded.

    When a worker dies (a decoder crash, the OOM killer), the images in flight that have no result
    are decoded again one at a time, each in a fresh process, so only the image that kills its process fails.
    """

    def start() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=_process_context(),
                                   initializer=_init_worker, initargs=initargs)

    executor = start()
    window: deque[tuple[ImageLike, Future]] = deque()
    items = iter(images)
    try:
        while True:
            for item in items:
                window.append((item, executor.submit(_prepare_in_worker, item)))
                if len(window) >= in_flight:
                    break
            if not window:
                return
            item, future = window[0]
            try:
                prepared = future.result()
            except BrokenProcessPool:
                executor.shutdown(wait=True, cancel_futures=True)
                while window:
                    item, future = window.popleft()
                    finished = future.done() and not future.cancelled() and future.exception() is None
                    yield (item, *(future.result() if finished else _decode_alone(item, start)))
                executor = start()
                continue
            window.popleft()
            yield (item, *prepared)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _decode_alone(item: ImageLike, start: Callable[[], ProcessPoolExecutor]
                  ) -> tuple[Optional[np.ndarray], Optional[str]]:
    with start() as executor:
        try:
            return executor.submit(_prepare_in_worker, item).result()
        except BrokenProcessPool:
            return None, "the decoder process died on this file (crash or out of memory)"
