"""Backbone registry: a name -> a module mapping an image batch to pooled features ``[N, D]``.

Names: the torchvision DenseNets (``densenet121`` is the paper's), ``mobilenet_v2``, ``resnet50``,
``timm:<model>`` for any timm model (optional extra), and ``tiny``, a DenseNet-style net under 100k
parameters for tests and the demo.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torchvision import models as tvm

from ..errors import ModelError, first_line
from .weights import WeightsArg, download_imagenet_state_dict, load_into, read_state_dict, weights_kind


class Backbone(nn.Module):
    """Feature extractor with a known output width; ``features`` ends in the last conv feature map."""

    def __init__(self, features: nn.Module, out_features: int, pool: bool = True):
        super().__init__()
        self.features = features
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1)) if pool else nn.Identity()
        self.out_features = out_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(images))


BackboneBuilder = Callable[[WeightsArg], Backbone]
_BACKBONES: dict[str, BackboneBuilder] = {}


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    def decorate(builder: BackboneBuilder) -> BackboneBuilder:
        _BACKBONES[name] = builder
        return builder

    return decorate


def available_backbones() -> list[str]:
    return sorted(_BACKBONES) + ["timm:<name>"]


def create_backbone(name: str, weights: WeightsArg = None) -> Backbone:
    if name.startswith("timm:"):
        return _timm_backbone(name.split(":", 1)[1], weights)
    if name not in _BACKBONES:
        raise ModelError(f"unknown backbone {name!r}; choose one of {', '.join(available_backbones())}")
    return _BACKBONES[name](weights)


def _load_torchvision_weights(model: nn.Module, arch: str, weights: WeightsArg, classifier: str) -> None:
    kind = weights_kind(weights)
    if kind == "none":
        return
    if kind == "imagenet":
        state, origin = download_imagenet_state_dict(arch), f"ImageNet weights for {arch}"
    else:
        state, origin = read_state_dict(str(weights)), f"weights file {weights}"
    load_into(model, state, origin, ignore_prefixes=(classifier + ".",))


def _torchvision_backbone(arch: str) -> BackboneBuilder:
    def build(weights: WeightsArg) -> Backbone:
        model = tvm.get_model(arch, weights=None)
        if arch.startswith("densenet"):
            _load_torchvision_weights(model, arch, weights, "classifier")
            # DenseNet applies a final ReLU in forward(), outside `features`.
            return Backbone(nn.Sequential(model.features, nn.ReLU(inplace=False)), model.classifier.in_features)
        if arch.startswith("mobilenet"):
            _load_torchvision_weights(model, arch, weights, "classifier")
            return Backbone(model.features, model.classifier[-1].in_features)
        _load_torchvision_weights(model, arch, weights, "fc")
        trunk = nn.Sequential(*(m for n, m in model.named_children() if n not in ("avgpool", "fc")))
        return Backbone(trunk, model.fc.in_features)

    return build


for _arch in ("densenet121", "densenet161", "densenet169", "densenet201", "mobilenet_v2", "resnet50"):
    register_backbone(_arch)(_torchvision_backbone(_arch))


@register_backbone("tiny")
def tiny_backbone(weights: WeightsArg = None) -> Backbone:
    """A DenseNet of three 2-layer blocks (growth 8): same code path as densenet121, ~30k parameters."""
    net = tvm.DenseNet(growth_rate=8, block_config=(2, 2, 2), num_init_features=16, bn_size=2, num_classes=1)
    if weights_kind(weights) == "imagenet":
        raise ModelError("the tiny backbone has no ImageNet weights; use --backbone-weights none or FILE")
    if weights_kind(weights) == "file":
        load_into(net, read_state_dict(str(weights)), f"weights file {weights}", ignore_prefixes=("classifier.",))
    return Backbone(nn.Sequential(net.features, nn.ReLU(inplace=False)), net.classifier.in_features)


def _timm_backbone(model_name: str, weights: WeightsArg) -> Backbone:
    try:
        import timm
    except ImportError:
        raise ModelError("timm backbones need the optional extra: pip install 'persona-iaa[timm]'") from None
    kind = weights_kind(weights)
    try:
        model = timm.create_model(model_name, pretrained=kind == "imagenet", num_classes=0)
    except Exception as exc:  # timm raises RuntimeError for unknown names, hub errors when offline
        if kind == "imagenet" and "Unknown model" not in str(exc):
            raise ModelError(
                f"cannot download ImageNet weights for timm:{model_name} (no network?): "
                "pass --backbone-weights FILE or --backbone-weights none"
            ) from None
        raise ModelError(f"timm:{model_name}: {first_line(exc)}") from None
    if kind == "file":
        load_into(model, read_state_dict(str(weights)), f"weights file {weights}", ignore_prefixes=("head.", "fc.", "classifier."))
    return Backbone(model, model.num_features, pool=False)  # timm pools itself with num_classes=0
