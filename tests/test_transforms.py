"""The tensor preprocessing agrees with the textbook PIL pipeline to within one grey level."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from persona_iaa.data.images import read_image
from persona_iaa.data.transforms import (
    Preprocessing,
    eval_transform,
    reference_eval_transform,
    train_transform,
)


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    coarse_shape = (height // 8 + 1, width // 8 + 1, 3)
    coarse = np.random.default_rng(seed).integers(0, 256, coarse_shape, dtype=np.uint8)
    return Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)


@pytest.mark.parametrize("size, pre", [((1200, 800), Preprocessing()), ((640, 480), Preprocessing()),
                                       ((200, 150), Preprocessing()), ((48, 40), Preprocessing(32, 28))])
def test_eval_transform_is_the_textbook_pipeline_within_one_grey_level(size, pre, tmp_path):
    image = photo(*size)
    path = tmp_path / "photo.png"
    image.save(path)
    expected = reference_eval_transform(pre)(image)
    from_pil, from_tensor = eval_transform(pre)(image), eval_transform(pre)(read_image(path))
    assert type(from_tensor) is torch.Tensor and from_tensor.dtype == torch.float32
    assert from_tensor.shape == expected.shape == (3, pre.crop_size, pre.crop_size)
    assert torch.equal(from_pil, from_tensor)
    one_level = torch.tensor([1 / 255 / s for s in pre.std]).view(3, 1, 1)
    difference = (from_tensor - expected).abs()
    assert (difference <= one_level + 1e-6).all()
    assert (difference > 1e-6).float().mean() < 0.05  # rounding differs on a few pixels only


def test_train_transform_is_a_seeded_random_crop_and_flip():
    pre, image = Preprocessing(40, 24), photo(64, 48)
    flipping, plain = train_transform(pre), train_transform(pre, hflip=False)
    outcomes = []
    for seed in range(20):
        torch.manual_seed(seed)
        crop = plain(image)
        torch.manual_seed(seed)
        result = flipping(image)
        assert result.shape == (3, 24, 24)
        assert torch.equal(result, crop) or torch.equal(result, crop.flip(-1))
        outcomes.append((torch.equal(result, crop), crop.sum().item()))
    assert {flipped for flipped, _ in outcomes} == {True, False}
    assert len({total for _, total in outcomes}) > 5  # the crop moves with the seed
