"""The one safe image opener, used by training, preparation and scoring alike.

Real photo collections hold CMYK and 16-bit files, palettes with transparency, animated GIFs, EXIF
rotations, HEIC from phones, truncated downloads and the odd decompression bomb. Everything here ends
as an upright 8-bit RGB image or an :class:`ImageError` with a one-line reason.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

#: Images above this many pixels are refused (about 18k x 10k); Pillow's own default warns at 89M.
MAX_PIXELS = 178_956_970
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


def open_image(
    source: ImageInput, *, draft_size: Optional[int] = None, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Decode ``source`` (path, bytes or PIL image) to an upright RGB image.

    ``draft_size`` lets the JPEG decoder downscale by 1/2, 1/4 or 1/8 while decoding, keeping both sides
    at least that large: several times faster on photo-sized files, at a small cost in exactness.
    """
    if isinstance(source, Image.Image):
        image = source
        name = "<image>"
    else:
        name = "<bytes>" if isinstance(source, bytes) else str(source)
        if not isinstance(source, bytes):
            path = Path(source)
            if not path.is_file():
                raise ImageError(f"{name}: file not found")
            if path.stat().st_size == 0:
                raise ImageError(f"{name}: empty file (0 bytes)")
            if path.suffix.lower() in (".heic", ".heif", ".avif") and not heif_available():
                raise ImageError(
                    f"{name}: HEIC/AVIF needs the optional plugin: pip install 'persona-iaa[heif]'"
                )
        elif not source:
            raise ImageError("<bytes>: empty upload (0 bytes)")
        heif_available()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        except Image.DecompressionBombError:
            raise ImageError(f"{name}: refused, more than {max_pixels:,} pixels (decompression bomb)") from None
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from None
        except OSError as exc:
            raise ImageError(f"{name}: cannot open ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: refused, {width}x{height} is more than {max_pixels:,} pixels (decompression bomb)")
    try:
        if getattr(image, "is_animated", False):
            image.seek(0)
        if draft_size and image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
            image.draft("RGB" if image.mode != "CMYK" else None, (draft_size, draft_size))
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return _to_rgb(image)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = str(exc).split("\n")[0] or type(exc).__name__
        if "truncated" in reason.lower() or "broken data stream" in reason.lower():
            reason = f"truncated or corrupt file ({reason})"
        raise ImageError(f"{name}: {reason}") from None
