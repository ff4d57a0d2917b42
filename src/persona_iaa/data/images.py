"""The one safe image opener, used by training, preparation and scoring alike.

Real photo collections hold CMYK and 16-bit files, palettes with transparency, animated GIFs, EXIF
rotations, HEIC from phones, truncated downloads and the odd decompression bomb; a folder may also hold
a FIFO or a device named like a photo, which would block a reader forever. Everything here ends as an
upright 8-bit RGB image or an :class:`ImageError` with a one-line reason; no other exception escapes,
so one bad file can never stop a run. Every file is opened by :func:`open_file`, which refuses anything
but a regular, non-empty file before reading a byte.
"""
from __future__ import annotations

import contextlib
import io
import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator, Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError, first_line
from ..extras import missing_extra_message

if TYPE_CHECKING:
    import torch

#: Images above this many pixels are refused (about 18k x 10k); Pillow's own default warns at 89M.
MAX_PIXELS = 178_956_970
#: ISO-BMFF major brands of HEIC/HEIF/AVIF files (bytes 8-12, after the ``ftyp`` box tag).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif",
                         b"avis"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".avif"})
EXIF_ORIENTATION = 0x0112
JPEG_MAGIC = b"\xff\xd8\xff"
#: A Huffman-coded JPEG spends at least about 2 bits on every 8x8 block: a flat grey image with
#: optimised tables holds some 255 pixels per byte. A header claiming 8x that is corrupt or hostile
#: (a 1.5 KB file claiming 12000x13000 pixels), and decoders would fill the missing data with grey.
JPEG_MAX_PIXELS_PER_BYTE = 2048
#: Kinds of file that are not images whatever their name; reading some of them blocks forever.
_NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"))
_TORCHVISION_DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"
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


@contextlib.contextmanager
def _quiet_decoders() -> Iterator[None]:
    """Silence what decoders say about a file that we handle or report ourselves, and nothing else.

    Pillow's notes on a file's oddities (odd EXIF, palette transparency, a malformed MPO: all
    ``UserWarning`` from its own modules), its size warning (our pixel limit refuses bombs with a reason),
    and torchvision's deprecation of its image decoders (deprecated since 0.29; the way off is PIL,
    which every file can take already, or TorchCodec).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.filterwarnings("ignore", message=_TORCHVISION_DEPRECATION, category=DeprecationWarning)
        yield


def _refuse_irregular(name: str, mode: int) -> None:
    for is_kind, kind in _NOT_REGULAR:
        if is_kind(mode):
            raise ImageError(f"{name}: not a regular file ({kind})")
    if not stat.S_ISREG(mode):
        raise ImageError(f"{name}: not a regular file")


def open_file(path: Union[str, os.PathLike]) -> BinaryIO:
    """Open an image file for reading; refuse anything that is not a regular, non-empty file.

    Why: opening or reading a FIFO, a socket or a device can block forever. ``stat`` answers without
    opening; the file is then opened non-blocking and checked again, so a path swapped for a FIFO in
    between cannot block either. Reads of the regular file that is returned block as usual.
    """
    name = str(path)
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    try:
        _refuse_irregular(name, os.stat(path).st_mode)
        flags = os.O_RDONLY | nonblocking | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"{name}: file not found") from None
    except PermissionError:
        raise ImageError(f"{name}: cannot read it (permission denied)") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot open ({exc.strerror or first_line(exc)})") from None
    try:
        info = os.fstat(fd)
        _refuse_irregular(name, info.st_mode)
        if info.st_size == 0:
            raise ImageError(f"{name}: empty file (0 bytes)")
        if nonblocking:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_proportion(name: str, image_format: Optional[str], width: int, height: int, nbytes: Optional[int]
                      ) -> None:
    """Refuse a JPEG whose header claims far more pixels than its bytes can hold (see the constant)."""
    if image_format == "JPEG" and nbytes is not None and width * height > JPEG_MAX_PIXELS_PER_BYTE * nbytes:
        raise ImageError(f"{name}: refused, {width}x{height} pixels claimed by only {nbytes:,} bytes "
                         "(a corrupt or forged JPEG header)")


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
            owned: bool, nbytes: Optional[int] = None) -> Image.Image:
    """Frame 0, optional JPEG draft, pixel limit, EXIF orientation, RGB; an image not ``owned`` is copied.
    ``nbytes``, the size of the encoded file, lets a JPEG header claiming an impossible size be refused."""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{name}: refused, {width}x{height} is more than {max_pixels:,} pixels "
                         "(decompression bomb)")
    _check_proportion(name, image.format, width, height, nbytes)
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
    with _quiet_decoders():  # a reason, if any, is raised below
        try:
            if isinstance(source, Image.Image):
                return _decode(source, name, draft_size=draft_size, max_pixels=max_pixels, owned=False)
            if isinstance(source, bytes):
                return _open_stream(io.BytesIO(source), name, "", draft_size, max_pixels)
            with open_file(source) as stream:
                return _open_stream(stream, name, Path(source).suffix.lower(), draft_size, max_pixels)
        except ImageError:
            raise
        except Image.DecompressionBombError:
            raise ImageError(f"{name}: refused, more than {max_pixels:,} pixels (decompression bomb)"
                             ) from None
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


def read_image(source: ImageInput, *, draft_size: Optional[int] = None, max_pixels: int = MAX_PIXELS,
               device: Optional[str] = None) -> torch.Tensor:
    """Decode ``source`` to an upright RGB ``uint8`` tensor [3, H, W], channels-last in memory.

    Plain JPEGs (most photos) decode with torchvision's libjpeg-turbo straight into a tensor: the same
    pixels as through PIL, about 1.3x faster, and laid out for torch's fast antialiased resize. Anything
    else, including every JPEG that decoder refuses, goes through :func:`open_image`, so odd files and
    error messages are handled in one place; so does every file where torchvision has no JPEG decoder.
    ``device="cuda"`` decodes plain JPEGs with nvJPEG on the GPU (the tensor stays there); the same
    checks come first and anything nvJPEG refuses falls back to the CPU path.
    """
    from torchvision.transforms.functional import pil_to_tensor

    if draft_size is None and isinstance(source, (str, os.PathLike, bytes)):
        pixels = _read_plain_jpeg(source, max_pixels, device)
        if pixels is not None:
            return pixels
    return pil_to_tensor(open_image(source, draft_size=draft_size, max_pixels=max_pixels))


def _torchvision_jpeg_decoder(device: Optional[str] = None
                              ) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """torchvision's libjpeg-turbo decoder to RGB, or None where this torchvision has none.

    Its image decoders are deprecated since torchvision 0.29 and will be removed: PIL decodes then.
    """
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except Exception:  # ImportError, or an image extension that fails to load
        return None
    if device is not None:
        return lambda data: decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    return lambda data: decode_jpeg(data, mode=ImageReadMode.RGB)


def _read_plain_jpeg(source: Union[str, os.PathLike, bytes], max_pixels: int, device: Optional[str] = None
                     ) -> Optional[torch.Tensor]:
    """The fast path of :func:`read_image`; None whenever the careful path should decide.

    A file that cannot be opened raises the :class:`ImageError` that :func:`open_image` would raise.
    """
    import torch

    decode = _torchvision_jpeg_decoder(device)
    if decode is None:
        return None
    if isinstance(source, bytes):
        data = source
    else:
        with open_file(source) as stream:
            try:
                if stream.read(len(JPEG_MAGIC)) != JPEG_MAGIC:
                    return None  # other formats are read once, by open_image
                data = JPEG_MAGIC + stream.read()
            except OSError:  # an I/O error: open_image tries again and says why
                return None
    if not data.startswith(JPEG_MAGIC):
        return None
    try:
        with _quiet_decoders(), Image.open(io.BytesIO(data)) as header:  # reads the markers, not the pixels
            plain = header.format == "JPEG" and header.mode in ("RGB", "L")
            width, height = header.size
            claimed = width * height
            if not plain or claimed > max_pixels or claimed > JPEG_MAX_PIXELS_PER_BYTE * len(data):
                return None  # open_image refuses the size with its reason
            orientation = header.getexif().get(EXIF_ORIENTATION, 1)
            pixels = decode(torch.frombuffer(bytearray(data), dtype=torch.uint8))
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


def _open_stream(stream: BinaryIO, name: str, suffix: str, draft_size: Optional[int], max_pixels: int
                 ) -> Image.Image:
    """Decode from a stream the caller closes (so a multi-frame file never keeps its handle open)."""
    header = stream.read(16)
    nbytes = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if not heif_available() and (suffix in HEIF_EXTENSIONS or _is_heif(header)):
        raise ImageError(f"{name}: {missing_extra_message('heif', 'HEIC/AVIF')}")
    image = Image.open(stream)
    return _decode(image, name, draft_size=draft_size, max_pixels=max_pixels, owned=True, nbytes=nbytes)
