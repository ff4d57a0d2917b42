"""The one safe image opener, used by training, preparation and scoring alike.

Real photo collections hold CMYK and 16-bit files, palettes with transparency, animated GIFs, EXIF
rotations, HEIC from phones, truncated downloads and the odd decompression bomb. Everything here ends
as an upright 8-bit RGB image or an :class:`ImageError` with a one-line reason; no other exception
escapes, so one bad file can never stop a run.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError, first_line

if TYPE_CHECKING:
    import torch

#: Images above this many pixels are refused (about 18k x 10k); Pillow's own default warns at 89M.
MAX_PIXELS = 178_956_970
#: ISO-BMFF major brands of HEIC/HEIF/AVIF files (bytes 8-12, after the ``ftyp`` box tag).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".avif"})
EXIF_ORIENTATION = 0x0112
JPEG_MAGIC = b"\xff\xd8\xff"
_HEIF_REGISTERED: Optional[bool] = None

ImageInput = Union[str, os.PathLike, bytes, Image.Image]


def heif_available() -> bool:
    """Register the optional HEIC/AVIF plugin once; False when it is not installed."""
    global _HEIF_REGISTERED
    if _HEIF_REGISTERED is None:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
            if hasattr(pillow_heif, "register_avif_opener"):
                pillow_heif.register_avif_opener()
            _HEIF_REGISTERED = True
        except ImportError:
            _HEIF_REGISTERED = False
    return _HEIF_REGISTERED


def _is_heif(header: bytes) -> bool:
    return header[4:8] == b"ftyp" and header[8:12] in HEIF_BRANDS


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        high = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        array = np.clip(array / high * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _reason(exc: BaseException) -> str:
    """One line for any decoder failure; truncation gets a name users recognise."""
    reason = first_line(exc)
    lowered = reason.lower()
    if "truncated" in lowered or "broken data stream" in lowered or "premature end" in lowered:
        return f"truncated or corrupt file ({reason})"
    return f"cannot decode ({type(exc).__name__}: {reason})"


def _decode(image: Image.Image, name: str, *, draft_size: Optional[int], max_pixels: int,
            owned: bool) -> Image.Image:
    """Frame 0, optional JPEG draft, pixel limit, EXIF orientation, RGB; an image not ``owned`` is copied."""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: refused, {width}x{height} is more than {max_pixels:,} pixels (decompression bomb)")
    if getattr(image, "is_animated", False):
        image.seek(0)
    if draft_size and image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
        image.draft("RGB" if image.mode != "CMYK" else None, (draft_size, draft_size))
    image.load()
    if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)  # a new, upright image
    elif not owned:
        image = image.copy()
    return _to_rgb(image)


def open_image(
    source: ImageInput, *, draft_size: Optional[int] = None, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Decode ``source`` (path, bytes or PIL image) to an upright RGB image.

    ``draft_size`` lets the JPEG decoder downscale by 1/2, 1/4 or 1/8 while decoding, keeping both sides
    at least that large: several times faster on photo-sized files, at a small cost in exactness.
    A PIL image passed in is never modified.
    """
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", None) or "<image>"
    elif isinstance(source, bytes):
        name = "<bytes>"
        if not source:
            raise ImageError("<bytes>: empty upload (0 bytes)")
    else:
        name = str(source)
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{name}: file not found")
        if path.stat().st_size == 0:
            raise ImageError(f"{name}: empty file (0 bytes)")
    with warnings.catch_warnings():
        # Pillow warns about odd EXIF, palettes and large images; a reason, if any, is raised below.
        warnings.simplefilter("ignore")
        try:
            if isinstance(source, Image.Image):
                return _decode(source, name, draft_size=draft_size, max_pixels=max_pixels, owned=False)
            if isinstance(source, bytes):
                return _open_stream(io.BytesIO(source), name, "", draft_size, max_pixels)
            with open(source, "rb") as stream:
                return _open_stream(stream, name, Path(source).suffix.lower(), draft_size, max_pixels)
        except ImageError:
            raise
        except Image.DecompressionBombError:
            raise ImageError(f"{name}: refused, more than {max_pixels:,} pixels (decompression bomb)") from None
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from None
        except MemoryError:
            raise ImageError(f"{name}: out of memory while decoding") from None
        except Exception as exc:  # decoders raise OSError, ValueError, SyntaxError, struct.error, ...
            raise ImageError(f"{name}: {_reason(exc)}") from None


#: EXIF orientation -> the flips and transposition of an [H, W, C] array that make the image upright
#: (PIL's ``ImageOps.exif_transpose``: mirror, 180, flip, transpose, 270, transverse, 90).
_UPRIGHT: dict[int, tuple[tuple[int, ...], bool]] = {
    2: ((1,), False), 3: ((0, 1), False), 4: ((0,), False), 5: ((), True),
    6: ((1,), True), 7: ((0, 1), True), 8: ((0,), True),
}


def read_image(source: ImageInput, *, draft_size: Optional[int] = None, max_pixels: int = MAX_PIXELS
               ) -> torch.Tensor:
    """Decode ``source`` to an upright RGB ``uint8`` tensor [3, H, W], channels-last in memory.

    Plain JPEGs (most photos) decode with torchvision's libjpeg-turbo straight into a tensor: the same
    pixels as through PIL, about 1.3x faster, and laid out for torch's fast antialiased resize. Anything
    else, including every JPEG that decoder refuses, goes through :func:`open_image`, so odd files and
    error messages are handled in one place.
    """
    from torchvision.transforms.functional import pil_to_tensor

    if draft_size is None and isinstance(source, (str, os.PathLike, bytes)):
        pixels = _read_plain_jpeg(source, max_pixels)
        if pixels is not None:
            return pixels
    return pil_to_tensor(open_image(source, draft_size=draft_size, max_pixels=max_pixels))


def _read_plain_jpeg(source: Union[str, os.PathLike, bytes], max_pixels: int) -> Optional[torch.Tensor]:
    """The fast path of :func:`read_image`; None whenever the careful path should decide."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        if isinstance(source, bytes):
            data = source
        else:
            with open(source, "rb") as stream:
                if stream.read(len(JPEG_MAGIC)) != JPEG_MAGIC:
                    return None  # other formats are read once, by open_image
                data = JPEG_MAGIC + stream.read()
        if not data.startswith(JPEG_MAGIC):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as header:  # reads the markers only, not the pixels
                plain = header.format == "JPEG" and header.mode in ("RGB", "L")
                if not plain or header.width * header.height > max_pixels:
                    return None
                orientation = header.getexif().get(EXIF_ORIENTATION, 1)
            pixels = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except Exception:  # truncated, corrupt, unreadable: open_image says why in its own words
        return None
    if orientation not in _UPRIGHT:
        return pixels
    flips, transpose = _UPRIGHT[orientation]
    upright = pixels.permute(1, 2, 0)  # [H, W, C] view of the decoder's interleaved pixels
    if transpose:
        upright = upright.transpose(0, 1)
    if flips:
        upright = upright.flip(flips)
    return upright.contiguous().permute(2, 0, 1)


def _open_stream(stream: BinaryIO, name: str, suffix: str, draft_size: Optional[int], max_pixels: int) -> Image.Image:
    """Decode from a stream the caller closes (so a multi-frame file never keeps its handle open)."""
    header = stream.read(16)
    stream.seek(0)
    if not heif_available() and (suffix in HEIF_EXTENSIONS or _is_heif(header)):
        raise ImageError(f"{name}: HEIC/AVIF needs the optional plugin: pip install 'persona-iaa[heif]'")
    image = Image.open(stream)
    return _decode(image, name, draft_size=draft_size, max_pixels=max_pixels, owned=True)
