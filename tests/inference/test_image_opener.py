"""open_image turns every kind of file into an upright RGB image or one ImageError line."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from .scoring_files import EXPECTED_ERRORS, RED

from persona_iaa.data import images
from persona_iaa.data.images import open_image
from persona_iaa.errors import ImageError


def pixel(image: Image.Image, xy=(5, 5)) -> tuple[int, ...]:
    return image.getpixel(xy)


@pytest.mark.parametrize("kind", sorted(EXPECTED_ERRORS))
def test_broken_files_raise_one_line_reasons(image_kinds, kind):
    with pytest.raises(ImageError) as caught:
        open_image(image_kinds[kind])
    message = str(caught.value)
    assert EXPECTED_ERRORS[kind] in message and "\n" not in message
    assert str(image_kinds[kind]) in message


@pytest.mark.parametrize("kind, expected", [
    ("jpeg", (200, 120, 40)), ("cmyk", (0, 255, 255)), ("rgb16", (255, 128, 0)), ("palette", (10, 200, 30)),
    ("palette_transparent", (255, 255, 255)), ("alpha", (255, 255, 255)), ("grayscale", (90, 90, 90)),
    ("animated", RED), ("wrong_extension", (10, 200, 30)), ("webp", (30, 60, 90)),
])
def test_odd_modes_become_8_bit_rgb_with_the_right_colour(image_kinds, kind, expected):
    image = open_image(image_kinds[kind])
    assert image.mode == "RGB" and image.size == (48, 40)
    assert np.allclose(pixel(image), expected, atol=4), (kind, pixel(image))


def test_16_bit_grayscale_is_scaled_not_clipped(image_kinds):
    image = open_image(image_kinds["gray16"])
    assert pixel(image, (2, 2)) == (255, 255, 255) and pixel(image, (40, 2)) == (128, 128, 128)


@pytest.mark.parametrize("draft_size", [None, 8])
def test_exif_orientation_is_applied(image_kinds, draft_size):
    image = open_image(image_kinds["exif_rotated"], draft_size=draft_size)
    width, height = image.size
    assert height == 2 * width  # stored 64x32, displayed 32x64
    top_right, top_left = pixel(image, (width - 2, 1)), pixel(image, (1, 1))
    assert top_right[0] > 200 and top_right[2] < 60, top_right  # the red block moved to the top right
    assert top_left[2] > 200, top_left


def test_pixel_limit_refuses_bombs_before_decoding(image_kinds):
    with pytest.raises(ImageError, match="48x40 is more than 1,000 pixels"):
        open_image(image_kinds["jpeg"], max_pixels=1000)
    assert open_image(image_kinds["jpeg"], max_pixels=48 * 40).size == (48, 40)


def test_heic_without_the_plugin_says_what_to_install(image_kinds, tmp_path, monkeypatch):
    monkeypatch.setattr(images, "_HEIF_REGISTERED", False)
    with pytest.raises(ImageError, match=r"persona-iaa\[heif\]"):
        open_image(image_kinds["bad_heic_garbage"])
    disguised = tmp_path / "phone_photo.jpg"  # recognised by its ftyp brand, not its name
    disguised.write_bytes(image_kinds["bad_heic_garbage"].read_bytes())
    with pytest.raises(ImageError, match=r"persona-iaa\[heif\]"):
        open_image(disguised)


def test_heic_with_the_plugin_decodes(tmp_path):
    pytest.importorskip("pillow_heif")
    assert images.heif_available()
    path = tmp_path / "photo.heic"
    Image.new("RGB", (64, 48), (200, 50, 50)).save(path, quality=95)
    image = open_image(path)
    assert image.size == (64, 48) and np.allclose(pixel(image), (200, 50, 50), atol=12)


def test_draft_decoding_shrinks_large_jpegs_but_not_below_the_request(tmp_path):
    path = tmp_path / "large.jpg"
    Image.new("RGB", (800, 600), (90, 90, 90)).save(path)
    assert open_image(path).size == (800, 600)
    width, height = open_image(path, draft_size=100).size
    assert 100 <= min(width, height) and width < 800


def test_bytes_and_pil_sources_and_the_caller_image_is_untouched(image_kinds):
    data = image_kinds["alpha"].read_bytes()
    assert pixel(open_image(data)) == (255, 255, 255)
    with pytest.raises(ImageError, match="empty upload"):
        open_image(b"")
    with pytest.raises(ImageError, match="not an image"):
        open_image(b"GIF89a but not really")
    original = Image.open(io.BytesIO(data))
    converted = open_image(original)
    assert converted.mode == "RGB" and original.mode == "RGBA" and converted is not original


def test_unexpected_decoder_exceptions_become_image_errors(image_kinds, monkeypatch):
    def explode(*args, **kwargs):
        raise IndexError("tile index out of range")

    monkeypatch.setattr(images.ImageOps, "exif_transpose", explode)
    with pytest.raises(ImageError, match="cannot decode \\(IndexError: tile index out of range\\)"):
        open_image(image_kinds["exif_rotated"])
