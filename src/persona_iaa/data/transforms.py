"""Train and evaluation transforms (the paper's: resize to 256x256, random/centre crop 224).

:class:`Preprocessing` travels inside every checkpoint, so scoring always matches training.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from PIL import Image
from torchvision import transforms as T

from ..constants import IMAGENET_MEAN, IMAGENET_STD


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    image_size: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "crop_size": self.crop_size, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        return cls(int(data["image_size"]), int(data["crop_size"]), tuple(data["mean"]), tuple(data["std"]))


Transform = Callable[[Image.Image], torch.Tensor]


def train_transform(pre: Preprocessing, hflip: bool = True) -> Transform:
    steps: list[Any] = [T.Resize((pre.image_size, pre.image_size), antialias=True), T.RandomCrop(pre.crop_size)]
    if hflip:
        steps.append(T.RandomHorizontalFlip())
    return T.Compose(steps + [T.ToTensor(), T.Normalize(pre.mean, pre.std)])


def eval_transform(pre: Preprocessing) -> Transform:
    return T.Compose([
        T.Resize((pre.image_size, pre.image_size), antialias=True),
        T.CenterCrop(pre.crop_size),
        T.ToTensor(),
        T.Normalize(pre.mean, pre.std),
    ])
