"""open_image and read_image turn every kind of file into an upright RGB image or one ImageError line."""
from __future__ import annotations

import io
import os
import socket
import sys
import types
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from persona_iaa.data import images
from persona_iaa.data.images import open_image, read_image
from persona_iaa.errors import ImageError

from .scoring_files import EXPECTED_ERRORS, RED


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


DECODABLE = ["jpeg", "cmyk", "gray16", "rgb16", "palette", "palette_transparent", "alpha", "grayscale",
             "animated", "wrong_extension", "webp", "exif_rotated"]


@pytest.mark.parametrize("kind", DECODABLE)
def test_read_image_gives_the_pixels_of_open_image_as_a_tensor(image_kinds, kind):
    expected = np.asarray(open_image(image_kinds[kind]))
    for source in (image_kinds[kind], image_kinds[kind].read_bytes()):
        tensor = read_image(source)
        assert tensor.dtype == torch.uint8 and tensor.shape[0] == 3
        np.testing.assert_array_equal(tensor.permute(1, 2, 0).numpy(), expected)
        assert tensor.permute(1, 2, 0).is_contiguous()  # the layout torch's fast resize reads


@pytest.mark.parametrize("kind", sorted(EXPECTED_ERRORS))
def test_read_image_fails_like_open_image(image_kinds, kind):
    with pytest.raises(ImageError) as caught:
        read_image(image_kinds[kind])
    assert EXPECTED_ERRORS[kind] in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("options", [{"subsampling": 2}, {"subsampling": 0}, {"progressive": True}])
def test_plain_jpegs_decode_without_pil_to_the_same_upright_pixels(orientation, options, monkeypatch):
    stored = Image.fromarray(np.random.default_rng(orientation).integers(0, 256, (40, 64, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=90, exif=exif, **options)
    expected = np.asarray(open_image(buffer.getvalue()))
    monkeypatch.setattr(images, "open_image", lambda *a, **k: pytest.fail("took the PIL path"))
    tensor = read_image(buffer.getvalue())
    np.testing.assert_array_equal(tensor.permute(1, 2, 0).numpy(), expected)


def test_read_image_keeps_the_pixel_limit_and_draft_decoding(image_kinds, tmp_path):
    with pytest.raises(ImageError, match="decompression bomb"):
        read_image(image_kinds["jpeg"], max_pixels=1000)
    path = tmp_path / "large.jpg"
    Image.new("RGB", (800, 600), (90, 90, 90)).save(path)
    assert read_image(path).shape == (3, 600, 800)
    assert read_image(path, draft_size=100).shape[2] < 800


@pytest.mark.parametrize("torchvision_io", [
    types.ModuleType("torchvision.io"),  # a torchvision whose decoders were removed
    None,  # no torchvision.io at all: importing it raises ImportError
])
def test_without_torchvision_jpeg_decoding_read_image_falls_back_to_pil(image_kinds, monkeypatch,
                                                                        torchvision_io):
    expected = np.asarray(open_image(image_kinds["exif_rotated"]))
    monkeypatch.setitem(sys.modules, "torchvision.io", torchvision_io)
    opened = []
    real_open = images.open_image
    monkeypatch.setattr(images, "open_image", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    tensor = read_image(image_kinds["exif_rotated"])
    assert opened == [image_kinds["exif_rotated"]]  # decoded by PIL, not skipped or crashed
    np.testing.assert_array_equal(tensor.permute(1, 2, 0).numpy(), expected)


def test_sockets_devices_and_folders_are_refused_without_reading(tmp_path):
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.jpg"))
        for reader in (open_image, read_image):
            with pytest.raises(ImageError, match="not a regular file \\(a socket\\)"):
                reader(tmp_path / "s.jpg")
    with pytest.raises(ImageError, match="not a regular file \\(a character device\\)"):
        read_image(os.devnull)  # reading /dev/zero instead would never end
    with pytest.raises(ImageError, match="not a regular file \\(a folder\\)"):
        read_image(tmp_path)


def test_a_jpeg_claiming_far_more_pixels_than_its_bytes_hold_is_refused_on_every_path(image_kinds):
    bomb = image_kinds["bad_jpeg_bomb"]
    assert bomb.stat().st_size < 2000
    for attempt in (lambda: read_image(bomb), lambda: read_image(bomb.read_bytes()),
                    lambda: open_image(bomb, draft_size=224)):
        with pytest.raises(ImageError, match="12000x13000 pixels claimed by only"):
            attempt()
    large = io.BytesIO()  # a real photo-sized JPEG of the flattest kind passes
    Image.new("L", (2000, 1500), 128).save(large, "JPEG", optimize=True)
    assert read_image(large.getvalue()).shape == (3, 1500, 2000)


def test_only_the_decoders_known_notes_are_silenced(image_kinds, monkeypatch):
    real = images._to_rgb

    pillow_note = "Palette images with Transparency expressed in bytes should be converted to RGBA images"

    def noisy(image):
        warnings.warn(pillow_note, stacklevel=1)  # Pillow's words, but not from Pillow: not silenced
        warnings.warn("a warning of ours", RuntimeWarning, stacklevel=1)
        return real(image)

    monkeypatch.setattr(images, "_to_rgb", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        open_image(image_kinds["palette_transparent"])
    assert [str(w.message) for w in caught] == [pillow_note, "a warning of ours"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monkeypatch.setattr(images, "_to_rgb", real)
        open_image(image_kinds["palette_transparent"])  # Pillow's own note on this file
        read_image(image_kinds["jpeg"])  # torchvision's deprecation of its decoder
    assert caught == []
