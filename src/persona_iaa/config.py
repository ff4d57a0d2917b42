"""Typed run configuration: dataclass defaults, YAML files and `key=value` overrides.

The paper's settings are written out literally in ``configs/ava.yaml`` and ``configs/aadb.yaml``. Some
dataclass defaults are additions the paper does not make (``data.hflip``, ``data.eval_geometry:
center_crop``, ``train.select_metric: srocc``, a held-out share of the personality set); each is a named
key, so a paper config turns it off (the README's fidelity table lists them).

Every run saves its resolved configuration, so a run directory says exactly how it was made.
The keys that ``persona-iaa train`` also offers as flags say so in their field (:func:`setting`), with
their help text: the flags, their help and their defaults are read from here (:func:`config_flags`).
"""
from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Union, get_type_hints

import yaml

from .errors import ConfigError, first_line
from .files import atomic_write


def setting(default: Any = dataclasses.MISSING, help: str = "", *, flag: Union[bool, str] = True,
            choices: Optional[tuple[str, ...]] = None, metavar: Optional[str] = None) -> Any:
    """A config field that ``persona-iaa train`` offers as a flag, its help text beside its default.

    ``flag``: True for ``--field-name``, or the flag's own name (``--aesthetic-data``).
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "flag": flag, "choices": choices, "metavar": metavar})


@dataclasses.dataclass(frozen=True)
class ConfigFlag:
    """One command-line flag for one config key (``--epochs`` for ``train.epochs``)."""

    key: str
    flag: str
    kind: type  # int, float, str or bool (a bool gets --flag and --no-flag)
    default: Any
    help: str
    choices: Optional[tuple[str, ...]] = None
    metavar: Optional[str] = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclasses.dataclass
class ModelConfig:
    backbone: str = setting("densenet121",
                            "densenet121, densenet169, mobilenet_v2, resnet50, tiny, timm:NAME")
    backbone_weights: str = setting(
        "imagenet", "backbone initialisation: imagenet (torchvision weights API), none (random init) or a "
        "local state-dict file", metavar="imagenet|none|FILE")
    hidden_dims: list[int] = dataclasses.field(default_factory=lambda: [1024, 512])
    heads: str = setting("paper", "head layers: paper (Linear+ReLU, the paper leaves them unspecified) or "
                         "pa-iaa (BatchNorm+PReLU+Dropout 0.5, BatchNorm before the tanh: the authors' code)",
                         choices=("paper", "pa-iaa"))


@dataclasses.dataclass
class DataConfig:
    aesthetic: Optional[str] = setting(None, "aesthetic dataset (AVA, AADB, csv...), e.g. aadb:/data/AADB",
                                       flag="--aesthetic-data", metavar="FORMAT:PATH")
    personality: Optional[str] = setting(
        None, "personality dataset (PsychoFlickr, PARA, csv...), e.g. csv:traits.csv",
        flag="--personality-data", metavar="FORMAT:PATH")
    aesthetic_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    personality_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    image_size: int = setting(256, "resize side: images are resized to image_size x image_size")
    crop_size: int = setting(224, "crop side: random crop for training, centre crop for evaluation")
    hflip: bool = setting(True, "random horizontal flips in training (an addition: the paper only crops)")
    eval_geometry: str = setting(
        "center_crop", "evaluation geometry: center_crop (resize to image_size, centre crop) or full (the "
        "whole image resized to crop_size, as the authors' code does)", choices=("center_crop", "full"))
    batch_size: int = setting(32, "images per batch")
    personality_batch_size: Optional[int] = None  # defaults to batch_size
    workers: int = setting(4, "data-loading worker processes")
    #: validation carved from train when the distribution has none: share (<1) or image count (>=1).
    val_fraction: float = 0.1
    #: test carved when the distribution has no split at all.
    test_fraction: float = 0.1
    #: the personality domain's own split policy (None: the aesthetic one above). The paper trains on all
    #: of PsychoFlickr: 0 and 0 put every personality image in the training split.
    personality_val_fraction: Optional[float] = None
    personality_test_fraction: Optional[float] = None
    #: a seeded random subset of this many aesthetic training images, for learning curves (an addition;
    #: None: all of them). Validation and test stay whole.
    aesthetic_train_size: Optional[int] = None


@dataclasses.dataclass
class OptimConfig:
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_backbone: float = 1e-5
    lr_heads: float = 1e-4
    lr_inter_task: float = 1e-4
    lr_decay: float = 0.9  # multiplied into every learning rate after each epoch


@dataclasses.dataclass
class LossConfig:
    #: L_p over the five traits: sum (eq. 4 as written) or mean (the authors' code; sum / 5).
    personality_reduction: str = setting("sum", "L_p over the five traits: sum (eq. 4) or mean (the "
                                         "authors' code)", choices=("sum", "mean"))
    personality_weight: float = setting(1.0, "factor on L_p in stage 1 (the paper's: 1)")


@dataclasses.dataclass
class TrainConfig:
    epochs: int = setting(20, "stage-1 epochs")
    stage2_epochs: int = setting(20, "stage-2 epochs for the inter-task weights")
    personality: bool = setting(True, "train the personality task too; --no-personality trains the aesthetic "
                                      "task only (the paper's baseline row)")
    inter_task_solver: str = setting("sgd", "stage 2: sgd (the paper's) or lstsq (eq. 6 solved exactly)",
                                     choices=("sgd", "lstsq"))
    select_metric: str = setting(
        "srocc", "the kept stage-1 epoch: best validation srocc, plcc, krcc, acc, rmse, mae, or last "
        "(the paper's: the last epoch)", choices=("srocc", "plcc", "krcc", "acc", "rmse", "mae", "last"))
    stage2_split: str = setting("train", "the aesthetic split stage 2 fits w on: train (the paper's) or val",
                                choices=("train", "val"))
    stage2_inputs: str = setting(
        "frozen", "stage-2 SGD inputs: frozen (outputs computed once, evaluation transform) or augmented "
        "(recomputed through the training transform every epoch, the literal reading)",
        choices=("frozen", "augmented"))
    seed: int = setting(0, "random seed")
    device: str = setting("auto", "auto, cpu, cuda, cuda:1 ...")
    output: str = setting("runs/train", "run directory (config, metrics, model)", metavar="RUN_DIR")
    precision: str = setting(
        "fp32", "autocast precision: bf16 is the fast choice on recent GPUs and CPUs; fp16: CUDA only, "
        "with a gradient scaler", choices=("fp32", "bf16", "fp16"))
    channels_last: bool = setting(False, "NHWC activations: faster convolutions on tensor cores")
    compile: bool = setting(False, "torch.compile the training forward")
    #: with several CUDA processes, BatchNorm statistics over the global batch (exactly as on one GPU).
    sync_batchnorm: bool = True
    log_every: int = setting(50, "stage-1 steps per report row (steps.csv, TensorBoard, progress bar)",
                             metavar="STEPS")
    log_grad_norms: bool = setting(
        False, "also log each task's gradient norm on the shared backbone in steps.csv (an addition: "
        "measured on the reported steps only; training is unchanged)")
    checkpoint_every: int = setting(
        0, "also checkpoint every STEPS stage-1 steps (0: off); epoch ends always checkpoint",
        metavar="STEPS")
    checkpoint_minutes: float = setting(10.0, "also checkpoint when MIN minutes have passed (0: off)",
                                        metavar="MIN")
    keep_last: int = setting(3, "checkpoints kept in RUN_DIR/checkpoints", metavar="K")
    tensorboard: bool = True  # log to RUN_DIR/tensorboard when the tensorboard package is installed


@dataclasses.dataclass
class Config:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Union[str, Path]) -> None:
        """Write the YAML atomically: a run killed while saving keeps its previous config.yaml whole."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)

        def write(tmp: str) -> None:
            Path(tmp).write_text(text, encoding="utf-8")

        atomic_write(path, write)


def config_flags() -> list[ConfigFlag]:
    """The config keys that carry a flag (:func:`setting`), in section and field order."""
    flags = []
    sections = get_type_hints(Config)
    for section in dataclasses.fields(Config):
        section_type = sections[section.name]
        hints = get_type_hints(section_type)
        for field in dataclasses.fields(section_type):
            meta = field.metadata
            if not meta.get("flag"):
                continue
            kind = _flag_kind(hints[field.name])
            flag = meta["flag"] if isinstance(meta["flag"], str) else "--" + field.name.replace("_", "-")
            flags.append(ConfigFlag(f"{section.name}.{field.name}", flag, kind, field.default, meta["help"],
                                    meta["choices"], meta["metavar"]))
    return flags


def _flag_kind(hint: Any) -> type:
    """int, float, str or bool from a field's type (``Optional[str]`` -> str)."""
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    kind = args[0] if getattr(hint, "__origin__", None) is Union and len(args) == 1 else hint
    if kind not in (int, float, str, bool):
        raise TypeError(f"a config flag needs an int, float, str or bool field, not {hint!r}")
    return kind


def check_loader_settings(data: DataConfig) -> None:
    """Batch sizes, worker count and crop size that a loader can use, or one clear error."""
    if data.batch_size < 1 or (data.personality_batch_size is not None and data.personality_batch_size < 1):
        raise ConfigError("data.batch_size and data.personality_batch_size must be at least 1")
    if data.workers < 0:
        raise ConfigError("data.workers must be 0 (decode in the main process) or more")
    if not 1 <= data.crop_size <= data.image_size:
        raise ConfigError(f"data.crop_size ({data.crop_size}) must lie between 1 and data.image_size "
                          f"({data.image_size})")


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


def builtin_config_path(name: str) -> Path:
    """A config shipped inside the package (``demo``, ``aadb``, ``ava``, ``recommended``)."""
    return Path(str(resources.files("persona_iaa") / "configs" / f"{name}.yaml"))
