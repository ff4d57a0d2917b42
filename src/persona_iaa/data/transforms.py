"""Train and evaluation transforms: resize to 256x256 and random crop 224 for training (the paper's);
for evaluation a centre crop 224 of the 256 resize, or (``geometry="full"``) the whole image resized to 224
as the authors' code does (the paper names no evaluation crop).

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

#: Evaluation geometries (``data.eval_geometry``).
EVAL_GEOMETRIES = ("center_crop", "full")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    image_size: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    #: evaluation geometry: "center_crop" (resize image_size, centre crop) or "full" (resize to crop_size)
    geometry: str = "center_crop"

    def __post_init__(self) -> None:
        if self.geometry not in EVAL_GEOMETRIES:
            raise ValueError(f"geometry must be one of {', '.join(EVAL_GEOMETRIES)}, not {self.geometry!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "crop_size": self.crop_size, "mean": list(self.mean),
                "std": list(self.std), "geometry": self.geometry}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        """Model files written before ``geometry`` existed were evaluated with the centre crop."""
        return cls(int(data["image_size"]), int(data["crop_size"]), tuple(data["mean"]), tuple(data["std"]),
                   str(data.get("geometry", "center_crop")))


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
    """The evaluation resize and crop (``pre.geometry``), still uint8: a quarter of the bytes of the model
    input, which is what the scoring engine's decoding processes send back."""
    if pre.geometry == "full":
        return v2.Compose([v2.ToImage(), v2.Resize((pre.crop_size, pre.crop_size), antialias=True),
                           v2.ToPureTensor()])
    return v2.Compose([v2.ToImage(), v2.Resize((pre.image_size, pre.image_size), antialias=True),
                       v2.CenterCrop(pre.crop_size), v2.ToPureTensor()])


def eval_transform(pre: Preprocessing) -> Transform:
    return v2.Compose([eval_geometry(pre), model_input(pre)])


def reference_eval_transform(pre: Preprocessing) -> Callable[[Image.Image], torch.Tensor]:
    """The evaluation preprocessing written the textbook way (PIL resize, ``ToTensor``): the plain
    pipeline that scoring is benchmarked and tested against (outputs within 1e-4)."""
    if pre.geometry == "full":
        geometry = [classic.Resize((pre.crop_size, pre.crop_size), antialias=True)]
    else:
        geometry = [classic.Resize((pre.image_size, pre.image_size), antialias=True),
                    classic.CenterCrop(pre.crop_size)]
    return classic.Compose([*geometry, classic.ToTensor(), classic.Normalize(pre.mean, pre.std)])
