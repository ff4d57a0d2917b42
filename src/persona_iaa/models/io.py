"""The model file format: ``model.safetensors`` (weights) + ``model.json`` (architecture, preprocessing,
provenance), all that `evaluate`, `score`, `export`, `serve` and :func:`persona_iaa.load_model` need.

Why it is strict: a model file comes from anywhere (a colleague, a download, a restored backup), so it is
validated before it is believed. ``model.json`` is checked against a schema (every problem reported, one
line each); the tensor shapes it implies are compared with the weights file's header on the ``meta``
device, so a huge ``hidden_dims`` fails before anything is allocated; the weights must match the content
hash written beside them (``state_sha256``) and hold no NaN or infinite value; and a timm backbone may be
named only by its architecture, never by a hub id or a folder that loading would fetch or read.

Training writes these files and inference reads them; both import this module, neither imports the other.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .. import __version__
from ..constants import TRAITS
from ..data.transforms import Preprocessing
from ..errors import ModelError, first_line
from ..files import atomic_write, write_json
from .backbones import available_backbones, create_backbone, is_plain_timm_name
from .pdmtl import ModelSpec, PersonalityDrivenIAA

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
FORMAT_NAME = "persona-iaa/model"
#: Largest resize and crop a model file may ask for: 60,000 px would make every image gigabytes.
MAX_IMAGE_SIZE = 4096
#: Largest head width and depth: the heads are rebuilt from these before the weights are read.
MAX_HIDDEN_WIDTH, MAX_HIDDEN_LAYERS = 16384, 8

_Width = Annotated[int, Field(strict=True, ge=1, le=MAX_HIDDEN_WIDTH)]
_Size = Annotated[int, Field(strict=True, ge=1, le=MAX_IMAGE_SIZE)]
_Mean = Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=1.0)]
_Std = Annotated[float, Field(allow_inf_nan=False, gt=0.0, le=10.0)]
_Finite = Annotated[float, Field(allow_inf_nan=False)]


class _ModelSection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    backbone: Annotated[str, Field(strict=True, min_length=1)]
    hidden_dims: Annotated[list[_Width], Field(max_length=MAX_HIDDEN_LAYERS)] = [1024, 512]
    heads: Literal["paper", "pa-iaa"] = "paper"

    @field_validator("backbone")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if name.startswith("timm:") and not is_plain_timm_name(name[len("timm:"):]):
            raise ValueError(f"{name!r}: a model file may name only a timm architecture (timm:NAME or "
                             "timm:NAME.TAG), not a hub id or a folder to fetch or read")
        return name


class _PreprocessingSection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_size: _Size
    crop_size: _Size
    mean: Annotated[list[_Mean], Field(min_length=3, max_length=3)]
    std: Annotated[list[_Std], Field(min_length=3, max_length=3)]
    geometry: Literal["center_crop", "full"] = "center_crop"

    @model_validator(mode="after")
    def _crop_fits(self) -> "_PreprocessingSection":
        if self.crop_size > self.image_size:
            raise ValueError(f"crop_size {self.crop_size} is larger than image_size {self.image_size}")
        return self


class _ModelFile(BaseModel):
    """The schema of ``model.json``; keys it does not name (metrics, stage 2 settings) pass unchecked."""

    model_config = ConfigDict(extra="allow")

    format: Annotated[str, Field(strict=True)]
    model: _ModelSection
    preprocessing: _PreprocessingSection
    traits: Optional[list[str]] = None
    backbone_weights: Optional[Annotated[str, Field(strict=True)]] = None
    inter_task_weights: Optional[dict[str, _Finite]] = None
    state_sha256: Optional[Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")]] = None

    @field_validator("traits")
    @classmethod
    def _trait_order(cls, traits: Optional[list[str]]) -> Optional[list[str]]:
        if traits is not None and traits != list(TRAITS):
            raise ValueError(f"traits {traits} differ from this version's {list(TRAITS)}")
        return traits


def _foreign(data: Any) -> Optional[str]:
    """Why parsed JSON is not a persona-iaa model file at all (None when it claims to be one)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__} instead of an object"
    if data.get("format") != FORMAT_NAME:
        return f"format {data.get('format')!r}, expected {FORMAT_NAME!r}"
    return None


def model_file_problems(data: Any) -> list[str]:
    """Every problem of a parsed ``model.json``, one line each (empty when it is valid)."""
    foreign = _foreign(data)
    if foreign is not None:
        return [f"not a persona-iaa model file ({foreign})"]
    try:
        _ModelFile.model_validate(data)
    except ValidationError as exc:
        return [_problem_line(error) for error in exc.errors()]
    return []


def _problem_line(error: Any) -> str:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    shown = "" if error["type"] == "missing" or isinstance(value, (dict, list)) else f" (got {value!r:.60})"
    return f"{where or 'file'}: {message}{shown}"


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order.

    A hash of the tensors rather than of the file, so the same number binds a model in memory to the file
    it came from and to an ONNX export of it (see :mod:`persona_iaa.inference.export`).
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def non_finite_tensor(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The name of the first floating-point tensor holding NaN or infinity, if any."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def save_model(directory: Union[str, Path], model: PersonalityDrivenIAA,
               preprocessing: Optional[Preprocessing] = None, extra: Optional[dict[str, Any]] = None,
               stem: str = "model") -> Path:
    """Write ``{stem}.safetensors`` and ``{stem}.json`` atomically; refuse what could not be loaded again."""
    directory = Path(directory)
    if not (model.spec.backbone.startswith("timm:") or model.spec.backbone in available_backbones()):
        raise ModelError(f"cannot save a model whose backbone is {model.spec.backbone!r}: a model file must "
                         "name a registered backbone (build it with create_backbone or register_backbone)")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = non_finite_tensor(state)
    if bad is not None:
        raise ModelError(f"not saving {directory / stem}: tensor {bad!r} holds NaN or infinite values")
    meta = {
        "format": FORMAT_NAME,
        "persona_iaa_version": __version__,
        "model": model.spec.to_dict(),
        "preprocessing": (preprocessing or model.preprocessing).to_dict(),
        "traits": list(TRAITS),
        "backbone_weights": model.backbone_weights,
        "inter_task_weights": model.inter_task_weights(),
        **(extra or {}),
        "state_sha256": state_digest(state),
    }
    problems = model_file_problems(meta)
    if problems:
        raise ModelError(f"not saving {directory / stem}: {'; '.join(problems)}")
    atomic_write(directory / f"{stem}.safetensors", lambda tmp: save_file(state, tmp))
    write_json(directory / f"{stem}.json", meta)
    return directory / f"{stem}.safetensors"


def resolve_model_path(path: Union[str, Path]) -> tuple[Path, Path]:
    """A run directory, a ``.safetensors`` file or a ``.json`` file -> (weights, metadata) paths."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"{path}: not found (expected a run directory or a model .safetensors file)")
    if path.is_dir():
        weights, meta = path / WEIGHTS_FILE, path / META_FILE
    elif path.suffix in (".safetensors", ".json"):
        weights, meta = path.with_suffix(".safetensors"), path.with_suffix(".json")
    else:
        raise ModelError(f"{path}: expected a run directory or a model .safetensors file")
    for required in (weights, meta):
        if not required.is_file():
            raise ModelError(f"{path}: no trained model here ({required.name} not found)")
    return weights, meta


def read_meta(path: Union[str, Path]) -> dict[str, Any]:
    """``model.json`` of a run directory or model file, validated (all problems, one line each)."""
    _, meta_path = resolve_model_path(path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: corrupt model metadata ({first_line(exc)})") from None
    foreign = _foreign(meta)
    if foreign is not None:
        raise ModelError(f"{meta_path}: not a persona-iaa model file ({foreign})")
    problems = model_file_problems(meta)
    if problems:
        raise ModelError(f"{meta_path}: invalid model file ({len(problems)} problem(s)):\n"
                         + "\n".join(f"  {line}" for line in problems))
    return meta


def weights_shapes(weights_path: Union[str, Path]) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from the weights file's header, without reading (or allocating) any tensor."""
    try:
        with safe_open(str(weights_path), framework="pt") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for a damaged header
        raise ModelError(f"{weights_path}: cannot read weights ({first_line(exc)})") from None


Shapes = Mapping[str, tuple[int, ...]]


def _architecture_mismatch(backbone: str, expected: Shapes, found: Shapes, weights_path: Union[str, Path]
                           ) -> Optional[str]:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [k for k in expected if k in found and tuple(found[k]) != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return None
    first = (missing or unexpected or wrong)[0]
    return (f"{weights_path} was saved for a different architecture than {backbone} "
            f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} mis-shaped tensors, "
            f"e.g. {first!r})")


def check_architecture(spec: ModelSpec, weights_path: Union[str, Path]) -> None:
    """Compare the shapes ``spec`` implies with the weights file before any real tensor is allocated:
    the model is built on the ``meta`` device, which records shapes and holds no memory."""
    try:
        with torch.device("meta"):
            skeleton = PersonalityDrivenIAA(create_backbone(spec.backbone), spec.hidden_dims, spec)
    except ModelError:
        raise
    except Exception as exc:  # a backbone whose constructor needs real tensors; the strict load still checks
        log.debug("%s cannot be built on the meta device (%s); shapes are checked when loading",
                  spec.backbone, first_line(exc))
        return
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    problem = _architecture_mismatch(spec.backbone, expected, weights_shapes(weights_path), weights_path)
    if problem:
        raise ModelError(problem)


def load_state(model: PersonalityDrivenIAA, weights_path: Union[str, Path],
               expected_sha256: Optional[str] = None) -> None:
    """Load saved weights into ``model``: same architecture, same content hash (when known), all finite."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = weights_shapes(weights_path)
    problem = _architecture_mismatch(model.spec.backbone, expected, found, weights_path)
    if problem:
        raise ModelError(problem)
    try:
        state = load_file(str(weights_path))
    except Exception as exc:
        raise ModelError(f"{weights_path}: cannot read weights ({first_line(exc)})") from None
    if expected_sha256 is not None and state_digest(state) != expected_sha256:
        raise ModelError(f"{weights_path}: the weights do not match the hash in their model.json "
                         "(damaged, or changed after saving); restore both files from the same run")
    bad = non_finite_tensor(state)
    if bad is not None:
        raise ModelError(f"{weights_path}: tensor {bad!r} holds NaN or infinite values")
    model.load_state_dict(state)


def load_trained_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu"
                       ) -> tuple[PersonalityDrivenIAA, Preprocessing, dict[str, Any]]:
    """Rebuild the architecture from ``model.json`` and load ``model.safetensors`` (no weight download)."""
    weights_path, meta_path = resolve_model_path(path)
    meta = read_meta(path)
    spec = ModelSpec.from_dict(meta["model"])
    check_architecture(spec, weights_path)
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    model = PersonalityDrivenIAA(create_backbone(spec.backbone), spec.hidden_dims, spec,
                                 backbone_weights=meta.get("backbone_weights"), preprocessing=preprocessing)
    if meta.get("state_sha256") is None:
        log.warning("%s has no weights hash (written before persona-iaa recorded one): integrity not checked",
                    meta_path)
    load_state(model, weights_path, meta.get("state_sha256"))
    return model.to(device).eval(), preprocessing, meta
