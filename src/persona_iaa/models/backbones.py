"""Backbone registry: a name -> a module mapping an image batch to pooled features ``[N, D]``.

Names: the torchvision DenseNets (``densenet121`` is the paper's), ``mobilenet_v2``, ``resnet50``,
``timm:<model>`` for any timm architecture, optionally with its pretrained tag (``timm:NAME.TAG``;
optional extra), and ``tiny``, a DenseNet-style net under 100k
parameters for tests and the demo.

A backbone knows its name (so a model file can rebuild it), where its weights came from, and the
preprocessing its weights expect: ImageNet statistics for torchvision, timm's pretrained config for timm.
"""
from __future__ import annotations

import math
import re
from typing import Callable, Optional

import torch
from torch import nn
from torchvision import models as tvm

from ..data.transforms import Preprocessing
from ..errors import ModelError, first_line
from ..extras import require_extra
from ..registry import Registry
from .weights import (
    WeightsArg,
    describe,
    download_imagenet_state_dict,
    load_into,
    read_state_dict,
    weights_kind,
)

#: ``timm:NAME`` or ``timm:NAME.TAG``: a model file must not make loading fetch a hub id or read a folder.
_PLAIN_TIMM_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$")


class Backbone(nn.Module):
    """Feature extractor with a known output width; ``features`` ends in the last conv feature map.

    ``name`` is the registry name that rebuilds it ("custom" for one assembled by hand, which a model
    file cannot rebuild), ``weights`` the provenance of its initial weights, ``preprocessing`` the input
    statistics and default sizes those weights were trained with.
    """

    def __init__(self, features: nn.Module, out_features: int, pool: bool = True, *, name: str = "custom",
                 weights: Optional[str] = None, preprocessing: Optional[Preprocessing] = None):
        super().__init__()
        self.features = features
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1)) if pool else nn.Identity()
        self.out_features = out_features
        self.name = name
        self.weights = weights
        self.preprocessing = preprocessing or Preprocessing()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(images))


BackboneBuilder = Callable[[WeightsArg], Backbone]
_BACKBONES: Registry[BackboneBuilder] = Registry("backbone")


def register_backbone(name: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator: add a builder ``weights -> Backbone`` under ``name`` (a name taken twice is refused)."""
    return _BACKBONES.register(name)


def available_backbones() -> list[str]:
    return sorted(_BACKBONES.names()) + ["timm:<name>"]


def is_plain_timm_name(name: str) -> bool:
    """Whether ``name`` (after ``timm:``) is a timm architecture, optionally with a pretrained tag, rather
    than a hub id or a folder (``hf-hub:``, ``local-dir:``) that loading would fetch or read."""
    return bool(_PLAIN_TIMM_NAME.match(name))


def create_backbone(name: str, weights: WeightsArg = None) -> Backbone:
    if name.startswith("timm:"):
        return _timm_backbone(name.split(":", 1)[1], weights)
    if name not in _BACKBONES:
        raise ModelError(f"unknown backbone {name!r}; choose one of {', '.join(available_backbones())}")
    backbone = _BACKBONES.get(name)(weights)
    backbone.name, backbone.weights = name, describe(weights)  # the registry knows both, builders need not
    return backbone


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
            trunk = nn.Sequential(model.features, nn.ReLU(inplace=False))
            return Backbone(trunk, model.classifier.in_features)
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
        load_into(net, read_state_dict(str(weights)), f"weights file {weights}",
                  ignore_prefixes=("classifier.",))
    return Backbone(nn.Sequential(net.features, nn.ReLU(inplace=False)), net.classifier.in_features)


def timm_preprocessing(model: nn.Module) -> Preprocessing:
    """Mean, std and default sizes from the model's pretrained config, resolved as timm itself does
    (``resolve_data_config``): a CLIP or Inception-style backbone is not fed ImageNet statistics."""
    from timm.data import resolve_data_config

    config = resolve_data_config({}, model=model)
    crop = int(config["input_size"][-1])
    resize = max(crop, int(math.floor(crop / float(config.get("crop_pct") or 1.0))))  # timm's eval resize
    mean, std = (tuple(float(v) for v in config[key]) for key in ("mean", "std"))
    return Preprocessing(resize, crop, mean, std)  # type: ignore[arg-type]


def _timm_backbone(model_name: str, weights: WeightsArg) -> Backbone:
    if not is_plain_timm_name(model_name):
        raise ModelError(f"timm:{model_name}: name a timm architecture (timm:NAME or timm:NAME.TAG), not a "
                         "hub id or a folder, so that its model file loads without fetching or reading "
                         "anything else; pass other weights as --backbone-weights FILE")
    timm = require_extra("timm", "timm", "a timm backbone", ModelError)
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
        load_into(model, read_state_dict(str(weights)), f"weights file {weights}",
                  ignore_prefixes=("head.", "fc.", "classifier."))
    # timm pools itself with num_classes=0
    return Backbone(model, model.num_features, pool=False, name=f"timm:{model_name}",
                    weights=describe(weights), preprocessing=timm_preprocessing(model))
