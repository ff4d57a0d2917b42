"""Model runners: a batch of normalised images in, score, aesthetic and personality arrays out.

Two runners exist, PyTorch (:class:`TorchRunner`) and onnxruntime (:class:`OnnxRunner`); which one
scores is decided once, by :func:`build_runner`, when a model is loaded. The process-wide torch state
that fast CPU scoring needs (one intra-op thread per batch, oneDNN Graph fusion) is described by a
:class:`TorchSettings` value and applied only while scoring runs, so a caller's own torch work never
runs under settings it did not ask for.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np
import torch

from ..constants import SCORE_ENGINES as ENGINES  # noqa: F401  (importable from here)
from ..errors import ModelError, first_line
from ..extras import has_module, require_extra

#: What a runner returns for a batch: score [N], aesthetic [N], personality [N, 5] as float32 arrays.
Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]
Runner = Callable[[torch.Tensor], Outputs]

#: The exported model's input and output names (see :mod:`persona_iaa.inference.export`).
INPUT_NAME = "images"
OUTPUT_NAMES: tuple[str, ...] = ("score", "aesthetic", "personality")


@contextlib.contextmanager
def quiet_torchscript() -> Iterator[None]:
    """Silence the deprecation notices of the TorchScript APIs we rely on, and nothing else.

    ``torch.jit.trace/freeze/save/load`` (the fused CPU runner, TorchScript export) and the
    TorchScript-based ONNX exporter (``dynamo=False``) announce their deprecation on every call. The
    way off them: ``torch.export`` with the dynamo ONNX exporter for export, and ``torch.compile`` or
    onnxruntime for the fused CPU runner. Tracer warnings are silenced too: every trace the runner
    uses is first checked against the eager model, and every export against PyTorch.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning,
                                module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


class _SharedTorchState:
    """The values torch had before the first of any overlapping scoring runs changed them.

    Overlapping users (two server requests, a runner called inside the engine) share one saved state:
    the first saves it, every user puts its own thread's thread count back to it on leaving, and the
    last one also restores the fusion switch. Without the count, the second of two overlapping runs
    would save the first run's setting as "the original" and restore that.
    """

    lock = threading.Lock()
    users = 0
    threads: Optional[int] = None
    fusion: Optional[bool] = None


@dataclasses.dataclass(frozen=True)
class TorchSettings:
    """Process-wide torch state for scoring; ``None`` leaves a setting as it is.

    ``threads``: intra-op threads per batch (the engine runs batches side by side, one thread each, on
    CPUs). ``onednn_fusion``: oneDNN Graph fusion for TorchScript graphs (the fused CPU runner).
    Both are global in torch, so they are applied only inside :meth:`applied` and restored when it
    ends, including when a scoring generator is closed or dropped part-way.
    """

    threads: Optional[int] = None
    onednn_fusion: Optional[bool] = None

    def merged(self, other: "TorchSettings") -> "TorchSettings":
        """These settings with those ``other`` sets (not None) taking precedence."""
        return TorchSettings(
            threads=other.threads if other.threads is not None else self.threads,
            onednn_fusion=other.onednn_fusion if other.onednn_fusion is not None else self.onednn_fusion,
        )

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        state = _SharedTorchState
        with state.lock:
            if state.users == 0:
                state.threads, state.fusion = torch.get_num_threads(), torch.jit.onednn_fusion_enabled()
            state.users += 1
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            if self.onednn_fusion is not None:
                torch.jit.enable_onednn_fusion(self.onednn_fusion)
        try:
            yield
        finally:
            with state.lock:
                state.users -= 1
                if self.threads is not None and state.threads is not None:
                    torch.set_num_threads(state.threads)
                if state.users == 0 and state.fusion is not None:
                    torch.jit.enable_onednn_fusion(state.fusion)


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
    trace, or whose graph disagrees with the eager model, runs eagerly with a warning. The fusion switch
    is on only while the graph is built and while the runner runs (``settings``).
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: str = "fp32",
                 example: Optional[torch.Tensor] = None):
        self.model = model.to(device).eval().to(memory_format=torch.channels_last)
        self.eager = PlainOutputs(self.model)
        self.device = device
        self.autocast_dtype = torch.bfloat16 if precision == "bf16" else None
        self.graph = self._fused_graph(example) if device.type == "cpu" and example is not None else None
        self.settings = TorchSettings(onednn_fusion=True if self.graph is not None else None)

    def _autocast(self) -> torch.autocast:
        # TorchScript under autocast needs the weight-cast cache off (torch's documented recipe).
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                              enabled=self.autocast_dtype is not None, cache_enabled=False)

    def _fused_graph(self, example: torch.Tensor) -> Optional[torch.jit.ScriptModule]:
        example = example.contiguous(memory_format=torch.channels_last)
        try:
            with TorchSettings(onednn_fusion=True).applied(), quiet_torchscript(), torch.no_grad(), \
                    self._autocast():
                graph = torch.jit.freeze(torch.jit.trace(self.eager.eval(), example, check_trace=False))
                for _ in range(2):  # the profiling executor fuses on the second run
                    graph(example)
                single = example[:1]
                tolerance = 1e-4 if self.autocast_dtype is None else 0.05
                for fused, eager in zip(graph(single), self.eager(single)):
                    same = fused.shape == eager.shape and torch.allclose(fused.float(), eager.float(),
                                                                         atol=tolerance)
                    if not same:
                        raise ValueError("the traced graph disagrees with the model")
            return graph
        except Exception as exc:
            warnings.warn("running the model eagerly: it does not trace to a fused graph "
                          f"({first_line(exc)})", stacklevel=3)
            return None

    def __call__(self, batch: torch.Tensor) -> Outputs:
        if self.device.type == "cuda":  # page-locked memory lets the copy overlap with the GPU's work
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        with self.settings.applied(), torch.inference_mode(), self._autocast():
            outputs = (self.graph if self.graph is not None else self.eager)(batch)
        return tuple(t.float().cpu().numpy() for t in outputs)  # type: ignore[return-value]


class OnnxRunner:
    """onnxruntime inference of an exported model (fp32; on CUDA when asked for and onnxruntime has it)."""

    settings = TorchSettings()  # onnxruntime keeps its own threads: one per session, set below

    def __init__(self, model: Union[bytes, str, Path], device: Optional[torch.device] = None):
        ort: Any = require_extra("onnxruntime", "export", "--engine onnx", ModelError)
        providers = ["CPUExecutionProvider"]
        cuda = device is not None and device.type == "cuda"
        if cuda and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = 1  # the engine runs batches side by side, one thread each
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, session_options, providers=providers)

    def __call__(self, batch: torch.Tensor) -> Outputs:
        feed = {INPUT_NAME: batch.to("cpu", torch.float32).contiguous().numpy()}
        return tuple(self.session.run(list(OUTPUT_NAMES), feed))  # type: ignore[return-value]


def onnx_runtime_installed() -> bool:
    return has_module("onnx") and has_module("onnxruntime")


def resolve_engine(engine: str, device: torch.device, precision: str) -> str:
    """``auto``: onnxruntime for fp32 on CPUs when it is installed (faster there), PyTorch otherwise."""
    if engine != "auto":
        return engine
    return "onnx" if device.type == "cpu" and precision == "fp32" and onnx_runtime_installed() else "torch"


def build_runner(model: torch.nn.Module, preprocessing: Any, device: torch.device, *, engine: str = "auto",
                 precision: str = "fp32", batch_size: int = 8, checkpoint: Optional[Path] = None
                 ) -> tuple[str, Runner]:
    """The runner that will score, and its engine name: the one place the choice is made.

    With ``engine="auto"``, a model that does not export to ONNX scores with PyTorch after a warning;
    asked for explicitly, the export error is raised.
    """
    name = resolve_engine(engine, device, precision)
    if name == "onnx":
        from .export import onnx_runner

        try:
            return name, onnx_runner(model, preprocessing, device, checkpoint)
        except Exception as exc:
            if engine != "auto":
                raise
            warnings.warn(f"this model does not export to ONNX ({first_line(exc)}); "
                          "scoring with PyTorch instead", stacklevel=4)
    crop = preprocessing.crop_size
    example = torch.randn(batch_size, 3, crop, crop, generator=torch.Generator().manual_seed(0))
    return "torch", TorchRunner(model, device, precision, example)
