"""Typed run configuration: dataclass defaults are the paper's; YAML files and `key=value` overrides.

Every run saves its resolved configuration, so a run directory says exactly how it was made.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional, Union, get_type_hints

import yaml

from .errors import ConfigError, first_line


@dataclasses.dataclass
class ModelConfig:
    backbone: str = "densenet121"
    #: "imagenet" (torchvision weights API), "none" (random init) or a local state-dict file.
    backbone_weights: str = "imagenet"
    hidden_dims: list[int] = dataclasses.field(default_factory=lambda: [1024, 512])


@dataclasses.dataclass
class DataConfig:
    #: FORMAT:PATH of the aesthetic data (AVA, AADB, csv...).
    aesthetic: Optional[str] = None
    #: FORMAT:PATH of the personality data (PsychoFlickr, PARA, csv...).
    personality: Optional[str] = None
    aesthetic_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    personality_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    image_size: int = 256  # resize to image_size x image_size
    crop_size: int = 224  # random crop for training, centre crop for evaluation
    hflip: bool = True
    batch_size: int = 32
    personality_batch_size: Optional[int] = None  # defaults to batch_size
    workers: int = 4
    #: validation carved from train when the distribution has none: share (<1) or image count (>=1).
    val_fraction: float = 0.1
    #: test carved when the distribution has no split at all.
    test_fraction: float = 0.1


@dataclasses.dataclass
class OptimConfig:
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_backbone: float = 1e-5
    lr_heads: float = 1e-4
    lr_inter_task: float = 1e-4
    lr_decay: float = 0.9  # multiplied into every learning rate after each epoch


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 20  # stage 1
    stage2_epochs: int = 20
    personality: bool = True  # False trains the aesthetic-only baseline
    inter_task_solver: str = "sgd"  # "sgd" (the paper's stage 2) or "lstsq" (eq. 6 solved exactly)
    select_metric: str = "srocc"
    seed: int = 0
    device: str = "auto"
    output: str = "runs/train"
    #: "fp32", "bf16" (autocast; the fast choice on recent GPUs and CPUs) or "fp16" (CUDA, with a grad scaler).
    precision: str = "fp32"
    channels_last: bool = False  # NHWC activations: faster convolutions on tensor cores
    compile: bool = False  # torch.compile the training forward
    #: with several CUDA processes, BatchNorm statistics over the global batch (exactly as on one GPU).
    sync_batchnorm: bool = True
    log_every: int = 50  # stage-1 steps per report row (steps.csv, TensorBoard, progress bar)
    checkpoint_every: int = 0  # also checkpoint every N stage-1 steps (0: off); epoch ends always do
    checkpoint_minutes: float = 10.0  # also checkpoint when this much time has passed (0: off)
    keep_last: int = 3  # checkpoints kept under RUN_DIR/checkpoints
    tensorboard: bool = True  # log to RUN_DIR/tensorboard when the tensorboard package is installed


@dataclasses.dataclass
class Config:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Union[str, Path]) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


def check_loader_settings(data: DataConfig) -> None:
    """Batch sizes, worker count and crop size that a loader can use, or one clear error."""
    if data.batch_size < 1 or (data.personality_batch_size is not None and data.personality_batch_size < 1):
        raise ConfigError("data.batch_size and data.personality_batch_size must be at least 1")
    if data.workers < 0:
        raise ConfigError("data.workers must be 0 (decode in the main process) or more")
    if not 1 <= data.crop_size <= data.image_size:
        raise ConfigError(f"data.crop_size ({data.crop_size}) must lie between 1 and data.image_size ({data.image_size})")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = getattr(hint, "__origin__", None)
    args = getattr(hint, "__args__", ())
    if origin is Union:  # Optional[X]
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = getattr(hint, "__origin__", None), getattr(hint, "__args__", ())
    if hint is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, args[0], key) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float and not isinstance(value, bool):
        try:
            return float(value)  # YAML 1.1 reads "1e-3" as a string
        except (TypeError, ValueError):
            pass
    if hint is str and value is not None and not isinstance(value, (dict, list)):
        return str(value)
    if hint in (int, bool) and isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _apply(section: Any, values: dict[str, Any], prefix: str) -> None:
    hints = get_type_hints(type(section))
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in hints:
            known = ", ".join(f"{prefix}{k}" for k in hints)
            raise ConfigError(f"unknown config key {name!r}; known: {known}")
        current = getattr(section, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: expected a mapping")
            _apply(current, value, f"{name}.")
        elif isinstance(current, dict) and isinstance(value, dict):
            current.update(value)  # per-format options merge key by key
        else:
            setattr(section, key, _coerce(value, hints[key], name))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``data.batch_size=16`` -> (["data", "batch_size"], 16); values are read as YAML scalars/lists."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not KEY=VALUE (for example data.batch_size=16)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def nest(path: list[str], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value  # type: ignore[return-value]


def load_config(path: Union[str, Path, None] = None, overrides: tuple[str, ...] | list[str] = ()) -> Config:
    """Defaults <- YAML file <- ``key=value`` overrides, validated against the dataclasses."""
    config = Config()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML ({first_line(exc)})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        _apply(config, data, "")
    for text in overrides:
        keys, value = parse_override(text)
        _apply(config, nest(keys, value), "")
    return config
