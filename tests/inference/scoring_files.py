"""The corpus of awkward inputs: generated files of every kind a real collection holds, good and bad.

This is the one place that writes fuzz-style files (broken, hostile or odd); tests of any code that
reads images (the opener, the engine, the score command, writers, the server) run against
:func:`make_image_kinds` and check :data:`EXPECTED_ERRORS`, so a new kind added here is tried everywhere.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from persona_iaa.data.images import heif_available

RED, BLUE = (255, 0, 0), (0, 0, 255)
EXIF_ORIENTATION = 0x0112


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_rgb16(path: Path, pixels: np.ndarray) -> Path:
    """A 48-bit RGB PNG written by hand (Pillow cannot write one)."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
                     + png_chunk(b"IDAT", zlib.compress(raw))
                     + png_chunk(b"IEND", b""))
    return path


def write_png_bomb_header(path: Path, side: int = 100_000) -> Path:
    """A tiny PNG whose header claims ``side`` x ``side`` pixels: a decompression bomb."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + png_chunk(b"IEND", b""))
    return path


def write_jpeg_claiming(path: Path, width: int = 12_000, height: int = 13_000) -> Path:
    """A ~1.2 KB JPEG of 24x24 pixels whose frame header claims ``width`` x ``height``: decoders fill
    the missing data with grey (hundreds of MB) and say no more than "Corrupt JPEG data" on stderr."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")  # baseline SOF0: length (2), precision (1), height (2), width (2)
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def write_exif_rotated(path: Path) -> Path:
    """64x32 stored, red block top-left, EXIF orientation 6: displayed as 32x64 with red at the top right."""
    image = Image.new("RGB", (64, 32), BLUE)
    image.paste(RED, (0, 0, 16, 16))
    exif = image.getexif()
    exif[EXIF_ORIENTATION] = 6
    image.save(path, quality=95, exif=exif)
    return path


def make_image_kinds(folder: Path) -> dict[str, Path]:
    """One file per kind; keys name the kind. Broken kinds start with ``bad_``."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def add(kind: str, name: str) -> Path:
        files[kind] = folder / name
        return files[kind]

    Image.new("RGB", (48, 40), (200, 120, 40)).save(add("jpeg", "a_plain.jpg"), quality=95)
    Image.new("CMYK", (48, 40), (255, 0, 0, 0)).save(add("cmyk", "b_cmyk.jpg"), quality=95)
    gray16 = np.full((40, 48), 32768, np.uint16)
    gray16[:, :24] = 65535
    Image.fromarray(gray16).save(add("gray16", "c_gray16.png"))
    rgb16 = np.zeros((40, 48, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1] = 65535, 32768
    write_png_rgb16(add("rgb16", "d_rgb16.png"), rgb16)
    palette = Image.new("P", (48, 40), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.save(add("palette", "e_palette.png"))
    palette.save(add("palette_transparent", "f_palette_transparent.gif"), transparency=1)
    Image.new("RGBA", (48, 40), (255, 0, 0, 0)).save(add("alpha", "g_alpha.png"))
    Image.new("L", (48, 40), 90).save(add("grayscale", "h_gray.jpg"))
    frames = [Image.new("RGB", (48, 40), colour) for colour in (RED, BLUE)]
    frames[0].save(add("animated", "i_animated.gif"), save_all=True, append_images=frames[1:], duration=50,
                   loop=0)
    write_exif_rotated(add("exif_rotated", "j_rotated.jpg"))
    Image.new("RGB", (48, 40), (10, 200, 30)).save(add("wrong_extension", "k_really_png.jpg"), format="PNG")
    Image.new("RGB", (48, 40), (30, 60, 90)).save(add("webp", "l_plain.webp"))
    add("bad_zero_bytes", "m_zero.jpg").write_bytes(b"")
    jpeg = files["jpeg"].read_bytes()
    add("bad_truncated", "n_truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    add("bad_not_an_image", "o_notes.jpg").write_text("shopping list: milk, eggs\n")
    write_png_bomb_header(add("bad_bomb", "p_bomb.png"))
    add("bad_heic_garbage", "q_broken.heic").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic")
    write_jpeg_claiming(add("bad_jpeg_bomb", "r_claims_12000x13000.jpg"))
    if hasattr(os, "mkfifo"):  # opening it for reading blocks until a writer comes: forever
        os.mkfifo(add("bad_fifo", "s_named_pipe.jpg"))
    return files


#: A phrase of the one-line reason for every broken kind (a kind a platform cannot make is absent).
EXPECTED_ERRORS = {
    "bad_zero_bytes": "empty file",
    "bad_truncated": "truncated",
    "bad_not_an_image": "not an image",
    "bad_bomb": "decompression bomb",
    # garbage after a HEIC brand: the plugin cannot read it, or the plugin is missing
    "bad_heic_garbage": "not an image" if heif_available() else "persona-iaa[heif]",
    "bad_jpeg_bomb": "12000x13000 pixels claimed by only",
    **({"bad_fifo": "not a regular file (a FIFO"} if hasattr(os, "mkfifo") else {}),
}


def write_jpegs(folder: Path, count: int, size: tuple[int, int] = (40, 32), seed: int = 0) -> list[Path]:
    """``count`` small distinct JPEGs named in sorted order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        path = folder / f"img_{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths
