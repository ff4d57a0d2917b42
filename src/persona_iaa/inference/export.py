"""Exported models: ONNX (for onnxruntime, ``score --engine onnx``) and TorchScript.

An exported model takes a normalised image batch ``images`` [N, 3, crop, crop] (float32, the ImageNet
normalisation of the run) and returns ``score`` [N], ``aesthetic`` [N] and ``personality`` [N, 5].
The run's preprocessing and trait order travel inside the file as JSON metadata (key ``persona_iaa``),
with the content hash of the weights it was exported from (``state_sha256``), which binds a ``model.onnx``
beside a model file to those very weights.
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union, cast

import numpy as np
import torch
from torch import nn

from ..constants import EXPORT_FORMATS as FORMATS
from ..constants import TRAITS
from ..data.transforms import Preprocessing
from ..errors import ConfigError, ModelError
from ..extras import require_extra
from ..files import atomic_write
from ..models.io import resolve_model_path, state_digest
from .runners import INPUT_NAME, OUTPUT_NAMES, OnnxRunner, Outputs, PlainOutputs, quiet_torchscript

if TYPE_CHECKING:
    from ..models.pdmtl import PersonalityDrivenIAA

log = logging.getLogger(__name__)

METADATA_KEY = "persona_iaa"
ONNX_OPSET = 17


def default_export_path(checkpoint: Union[str, Path], fmt: str) -> Path:
    """``RUN_DIR/model.onnx`` or ``RUN_DIR/model.torchscript.pt``, next to the weights."""
    weights, _ = resolve_model_path(checkpoint)
    return weights.with_suffix(FORMATS[fmt])


def example_batch(preprocessing: Preprocessing, size: int = 2) -> torch.Tensor:
    crop = preprocessing.crop_size
    return torch.randn(size, 3, crop, crop, generator=torch.Generator().manual_seed(0))


def export_metadata(module: nn.Module, preprocessing: Preprocessing) -> str:
    model = cast("PersonalityDrivenIAA", module)
    return json.dumps({
        "preprocessing": preprocessing.to_dict(), "traits": list(TRAITS), "inputs": [INPUT_NAME],
        "outputs": list(OUTPUT_NAMES), "inter_task_weights": model.inter_task_weights(),
        "model": model.spec.to_dict(), "state_sha256": state_digest(model.state_dict()),
    })


def _cpu_fp32(model: nn.Module) -> nn.Module:
    return PlainOutputs(model).to("cpu", torch.float32).to(memory_format=torch.contiguous_format).eval()


def onnx_bytes(model: nn.Module, preprocessing: Preprocessing) -> bytes:
    """The model as an ONNX file in memory: batch axis dynamic, metadata attached."""
    onnx = require_extra("onnx", "export", "ONNX export (onnx is a core dependency; reinstall persona-iaa)",
                         ModelError)
    buffer = io.BytesIO()
    with quiet_torchscript():
        torch.onnx.export(
            # torch's stub says path-only, but export writes to any binary file object (documented)
            _cpu_fp32(model), (example_batch(preprocessing),), buffer,  # type: ignore[arg-type]
            dynamo=False, opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, export_metadata(model, preprocessing)
    return proto.SerializeToString()


def torchscript_module(model: nn.Module, preprocessing: Preprocessing) -> torch.jit.ScriptModule:
    with quiet_torchscript(), torch.no_grad():
        return torch.jit.trace(_cpu_fp32(model), example_batch(preprocessing))


def export_model(model: nn.Module, preprocessing: Preprocessing, fmt: str, path: Union[str, Path]) -> Path:
    """Write the model in ``fmt`` (``onnx`` or ``torchscript``) atomically to ``path``."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "onnx":
        data = onnx_bytes(model, preprocessing)
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    else:
        module = torchscript_module(model, preprocessing)
        extra = {f"{METADATA_KEY}.json": export_metadata(model, preprocessing)}
        with quiet_torchscript():
            atomic_write(path, lambda tmp: torch.jit.save(module, tmp, _extra_files=extra))
    return path


def exported_outputs(path: Union[str, Path], fmt: str, images: torch.Tensor) -> Outputs:
    """Run an exported file on a batch (onnxruntime for ONNX, torch.jit for TorchScript)."""
    if fmt == "onnx":
        return OnnxRunner(Path(path).read_bytes())(images)
    with quiet_torchscript():
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        return tuple(t.float().numpy() for t in module(images))  # type: ignore[return-value]


def max_difference(model: nn.Module, preprocessing: Preprocessing, path: Union[str, Path], fmt: str) -> float:
    """Largest absolute difference between the exported file and PyTorch on a random batch of 3."""
    images = example_batch(preprocessing, 3)
    with torch.inference_mode():
        expected = _cpu_fp32(model)(images)
    exported = exported_outputs(path, fmt, images)
    return max(float(np.abs(e.numpy() - g).max()) for e, g in zip(expected, exported))


def exported_from(model: nn.Module, path: Union[str, Path]) -> bool:
    """Whether the exported file at ``path`` was made from exactly ``model``'s weights (by their content
    hash in its metadata; file times say nothing, since a restored backup keeps its old ones)."""
    try:
        recorded = read_export_metadata(path).get("state_sha256")
    except Exception as exc:  # an unreadable or foreign file binds nothing
        log.info("%s: cannot read its metadata (%s)", path, type(exc).__name__)
        return False
    return recorded is not None and recorded == state_digest(model.state_dict())


def bound_export(model: nn.Module, checkpoint: Optional[Path]) -> Optional[Path]:
    """``model.onnx`` beside the weights of ``checkpoint`` when it was exported from ``model``, else None."""
    if checkpoint is None:
        return None
    weights, _ = resolve_model_path(checkpoint)
    exported = weights.with_suffix(FORMATS["onnx"])
    if not exported.is_file():
        return None
    if exported_from(model, exported):
        return exported
    log.warning("%s was not exported from these weights; exporting again in memory (run `persona-iaa export` "
                "to refresh it)", exported)
    return None


def onnx_runner(model: nn.Module, preprocessing: Preprocessing, device: torch.device,
                checkpoint: Optional[Path]) -> OnnxRunner:
    """Use ``model.onnx`` next to the weights when it was exported from them, else export in memory."""
    exported = bound_export(model, checkpoint)
    if exported is not None:
        return OnnxRunner(exported, device)
    return OnnxRunner(onnx_bytes(model, preprocessing), device)


def read_export_metadata(path: Union[str, Path]) -> dict[str, Any]:
    """The JSON metadata inside an exported file (preprocessing, traits, outputs)."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(props[METADATA_KEY])
    extra = {f"{METADATA_KEY}.json": ""}
    with quiet_torchscript():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[f"{METADATA_KEY}.json"])
