"""Where backbone weights come from: ``imagenet`` (torchvision's weights API), a local file, or none.

Asking for ImageNet weights on a machine that cannot download them fails with one line naming the two
alternatives; there is never a silent fallback to random weights.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from ..errors import ModelError, first_line

WeightsArg = Union[None, str, Path]

# Old DenseNet checkpoints (the official torchvision files among them) name BatchNorm/conv layers
# "norm.1" where the module now says "norm1"; torchvision renames them the same way when loading.
_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def weights_kind(weights: WeightsArg) -> str:
    """``none`` | ``imagenet`` | ``file``."""
    if weights is None or str(weights).lower() in ("", "none", "random"):
        return "none"
    if str(weights).lower() in ("imagenet", "default", "pretrained"):
        return "imagenet"
    return "file"


def read_state_dict(path: Union[str, Path]) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch pickle (weights only, never arbitrary code)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"backbone weights file {path} not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: one line, not a traceback
        raise ModelError(f"cannot read weights file {path}: {first_line(exc)}") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def rename_legacy_densenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, value in state.items():
        match = _DENSENET_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


def download_imagenet_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's default ImageNet weights for ``arch`` (cached under TORCH_HOME after the first run)."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(arch).DEFAULT
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:
        if isinstance(exc, (OSError, RuntimeError)) or "urlopen" in repr(exc).lower():
            raise ModelError(
                f"cannot download ImageNet weights for {arch} ({weights.url}): no network? "
                f"Pass --backbone-weights FILE (a local copy of {Path(weights.url).name}) "
                "or --backbone-weights none for random initialisation"
            ) from None
        raise


def load_into(module: nn.Module, state: dict[str, torch.Tensor], origin: str,
              ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load ``state`` strictly, except for keys under ``ignore_prefixes`` (a classifier we discard)."""
    state = rename_legacy_densenet_keys(state)
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # size mismatch: a file made for another architecture
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[1] if len(lines) > 1 else lines[0]
        raise ModelError(f"{origin} does not fit the backbone: {reason}") from None
    missing = [k for k in result.missing_keys if not k.startswith(ignore_prefixes)]
    if missing or result.unexpected_keys:
        detail = []
        if missing:
            detail.append(f"missing {len(missing)} key(s) such as {missing[0]!r}")
        if result.unexpected_keys:
            detail.append(f"{len(result.unexpected_keys)} unexpected such as {result.unexpected_keys[0]!r}")
        raise ModelError(f"{origin} does not match the backbone: {'; '.join(detail)}")


def describe(weights: WeightsArg) -> Optional[str]:
    kind = weights_kind(weights)
    if kind == "none":
        return None
    return "imagenet" if kind == "imagenet" else str(Path(str(weights)).expanduser())
