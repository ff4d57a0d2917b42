"""Train and evaluation transforms (the paper's: resize to 256x256, random/centre crop 224).

:class:`Preprocessing` travels inside every checkpoint, so scoring always matches training.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Union

import torch
from PIL import Image
from torchvision import transforms as classic
from torchvision.transforms import v2

from ..constants import IMAGENET_MEAN, IMAGENET_STD


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    image_size: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "crop_size": self.crop_size,
                "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        return cls(int(data["image_size"]), int(data["crop_size"]), tuple(data["mean"]), tuple(data["std"]))


#: Takes a PIL image or a ``uint8`` tensor [3, H, W] (see :func:`~persona_iaa.data.images.read_image`).
Transform = Callable[[Union[Image.Image, torch.Tensor]], torch.Tensor]


def model_input(pre: Preprocessing) -> Transform:
    """uint8 image(s) -> normalised float32, for one image [3, H, W] or a batch [N, 3, H, W] alike."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std),
                       v2.ToPureTensor()])


# Every image is resized as a uint8 tensor (PIL images are converted first): torch's antialiased
# bilinear resize matches PIL's to within one grey level and is several times faster on photos.
def train_transform(pre: Preprocessing, hflip: bool = True) -> Transform:
    steps: list[Any] = [v2.ToImage(), v2.Resize((pre.image_size, pre.image_size), antialias=True),
                        v2.RandomCrop(pre.crop_size)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps + [model_input(pre)])


def eval_geometry(pre: Preprocessing) -> Transform:
    """The evaluation resize and centre crop, still uint8: a quarter of the bytes of the model input,
    which is what the scoring engine's decoding processes send back."""
    return v2.Compose([v2.ToImage(), v2.Resize((pre.image_size, pre.image_size), antialias=True),
                       v2.CenterCrop(pre.crop_size), v2.ToPureTensor()])


def eval_transform(pre: Preprocessing) -> Transform:
    return v2.Compose([eval_geometry(pre), model_input(pre)])


def reference_eval_transform(pre: Preprocessing) -> Callable[[Image.Image], torch.Tensor]:
    """The evaluation preprocessing written the textbook way (PIL resize, ``ToTensor``): the plain
    pipeline that scoring is benchmarked and tested against (outputs within 1e-4)."""
    return classic.Compose([
        classic.Resize((pre.image_size, pre.image_size), antialias=True), classic.CenterCrop(pre.crop_size),
        classic.ToTensor(), classic.Normalize(pre.mean, pre.std),
    ])
