"""The one safe image loader: every poster in moviegenre is opened here, whichever way it came in.

One policy for every entry point (CLI, Python API, web service, scraper, training): JPEG, PNG, WebP and
GIF (its first frame), a regular file of at most ``MAX_IMAGE_BYTES``, at most ``MAX_PIXELS`` pixels and an
aspect ratio within ``MAX_ASPECT``; large images decode a few at a time, and near the size the caller needs.
A poster is read as it looks: upright by its EXIF orientation, transparent parts on white.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from moviegenre.errors import ImageError

# What Pillow may decode (Image.open would try some 40 formats); a GIF or WebP gives its first frame.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
ACCEPTED = "a JPEG, PNG, WebP or GIF poster"
# A real poster is well under 10 MP; 40 MP still admits print-resolution scans but stops bombs.
MAX_PIXELS = 40_000_000
# Posters are about 2:3; 10:1 still admits banners, and bounds what a 1-pixel-wide image can cost downstream.
MAX_ASPECT = 10
MAX_IMAGE_BYTES = 32 * 1024 * 1024
# Decodes of images above LARGE_PIXELS take one of DECODE_SLOTS: parallel requests queue for memory, not swap.
LARGE_PIXELS = 4_000_000
DECODE_SLOTS = 2
# The shorter side every caller here is served by (224-260 px encoder inputs, 448 px explanation overlays).
DRAFT_SIDE = 448
RESIZE_POLICIES = ("none", "stretch", "pad", "crop")

_large_decodes = threading.BoundedSemaphore(DECODE_SLOTS)
_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF87a": "GIF", b"GIF89a": "GIF"}


def sniff_format(data: bytes) -> str | None:
    """One of ``FORMATS`` by the first bytes, None for anything else: other formats never reach a decoder."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)


def load_image(source: str | Path | bytes, *, size: tuple[int, int] | int | None = None,
               policy: str = "stretch", name: str | None = None, max_pixels: int = MAX_PIXELS,
               draft: int | None = None) -> Image.Image:
    """Decode ``source`` (a path or raw bytes) to an RGB image, optionally resized to ``size`` (w, h).

    policy: ``stretch`` resizes to size ignoring aspect; ``pad`` keeps aspect and pads with black;
    ``crop`` keeps aspect and centre-crops; ``none`` returns the decoded image as is. ``draft``: the caller
    needs no more than this many pixels on the shorter side, so a larger image is decoded at a reduced scale
    (JPEG's DCT scaling, otherwise an integer reduction straight after decoding), never below ``draft``.
    Raises :class:`ImageError` (one line, naming the file) for non-images, truncated files and bombs.
    """
    if policy not in RESIZE_POLICIES:
        raise ImageError("resize", f"unknown policy '{policy}'", hint=f"use one of {', '.join(RESIZE_POLICIES)}")
    label = name or (str(source) if not isinstance(source, bytes) else "<upload>")
    data = source if isinstance(source, bytes) else read_image_file(source, name=label)
    if not data:
        raise ImageError(label, "empty file", hint=f"give {ACCEPTED}")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(label, f"over the {MAX_IMAGE_BYTES:,} byte limit", hint="downscale or recompress it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            _check_shape(image, label, max_pixels)
            if image.width * image.height > LARGE_PIXELS:
                with _large_decodes:
                    image = _decode(image, draft)
            else:
                image = _decode(image, draft)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(label, "image is too large to decode safely", hint="possible decompression bomb") from None
    except UnidentifiedImageError:
        raise ImageError(label, "not an image", hint=f"give {ACCEPTED}") from None
    except Exception as error:  # noqa: BLE001 - a damaged file or EXIF block fails deep in Pillow, as struct.error too
        raise ImageError(label, f"damaged or truncated image ({error})", hint="re-download or re-export it") from None
    return resize(image, size, policy) if size else image


def load_poster(source: str | Path | bytes, *, name: str | None = None) -> Image.Image:
    """A poster as every model reads it, decoded near ``DRAFT_SIDE``: the same pixels whichever way it came in (a
    table's path, the Python API's bytes or PIL image, an upload), so every path gives the same genres."""
    return load_image(source, name=name, draft=DRAFT_SIDE)


def is_url(poster: str) -> bool:
    """A poster given as a web address (``https://...``; a command line's Path makes that ``https:/...``) rather than
    a path; a one-letter scheme is a Windows drive, not a URL."""
    return re.match(r"\s*[A-Za-z][A-Za-z0-9+.-]+:/", poster) is not None


def read_image_file(path: str | Path, *, name: str | None = None) -> bytes:
    """A poster file's bytes: only a regular file (not /dev/zero, a pipe or a folder), of at most MAX_IMAGE_BYTES."""
    label = name or str(path)
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer before fstat can turn it away.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        if isinstance(error, FileNotFoundError) and is_url(str(path)):
            raise ImageError(label, "is a URL, not a file", hint="download the poster first and give its path") \
                from None
        if error.errno == errno.ELOOP:  # strerror's "Too many levels of symbolic links" hides the usual cause
            raise ImageError(label, "is a symlink loop (or a chain of too many links)",
                             hint="point the link at the poster file") from None
        raise ImageError(label, f"cannot read ({error.strerror or error})", hint="check the path") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(label, "not a regular file (a device, pipe or folder)", hint=f"give {ACCEPTED}")
        if info.st_size > MAX_IMAGE_BYTES:
            raise ImageError(label, f"{info.st_size:,} bytes, over the {MAX_IMAGE_BYTES:,} byte limit",
                             hint="downscale or recompress it")
        with os.fdopen(handle, "rb", closefd=False) as file:
            return file.read(MAX_IMAGE_BYTES + 1)  # a file growing while read is caught by the caller's check
    except OSError as error:
        raise ImageError(label, f"cannot read ({error.strerror or error})", hint="check the path") from None
    finally:
        os.close(handle)


def poster_source(poster: object, field: str = "poster") -> str | Path | bytes | None:
    """A poster as the loader takes it, from what a Python caller may hand over: a path, the image's bytes (any
    bytes-like) or a PIL image (encoded losslessly, its size checked first); None or "" for no poster."""
    if poster is None or (isinstance(poster, str) and not poster.strip()):
        return None
    if isinstance(poster, (str, bytes)):
        return poster
    if isinstance(poster, os.PathLike):
        return Path(poster)
    if isinstance(poster, (bytearray, memoryview)):
        return bytes(poster)
    if isinstance(poster, Image.Image):
        if not poster.width or not poster.height:  # Pillow would only fail at saving it, "cannot write empty image"
            raise ImageError(field, f"empty image ({poster.width}x{poster.height} pixels)",
                             hint="give a poster that has pixels")
        _check_shape(poster, field, MAX_PIXELS)
        try:
            poster.load()  # an image from Image.open reads its file here
        except (ValueError, AssertionError):  # how Pillow reports pixels gone: close(), or the file closed unread
            raise ImageError(field, "the PIL image is closed",
                             hint="give it before closing it, or a copy() made while it was open") from None
        except OSError as error:
            raise ImageError(field, f"damaged or truncated image ({error})", hint="re-download or re-export it") \
                from None
        out = io.BytesIO()
        _as_seen(_eight_bit(poster)).save(out, "PNG", compress_level=1)  # as a file of it would be decoded
        return out.getvalue()
    raise ImageError(field, f"cannot read a poster from type {type(poster).__name__}",
                     hint="give a file path, the image's bytes or a PIL image")


def _check_shape(image: Image.Image, label: str, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(label, f"image is {width}x{height} pixels, over the {max_pixels:,} limit",
                         hint="downscale it first (possible decompression bomb)")
    if max(width, height) > MAX_ASPECT * max(1, min(width, height)):
        raise ImageError(label, f"image is {width}x{height} pixels, more elongated than {MAX_ASPECT}:1",
                         hint="crop it to the poster")


def _decode(image: Image.Image, draft: int | None) -> Image.Image:
    """The first frame in RGB, upright, and (with ``draft``) no larger than needed."""
    if draft and image.format == "JPEG":
        image.draft("RGB", (draft, draft))  # decodes at 1/2, 1/4 or 1/8 scale, never below (draft, draft)
    image.load()
    image = _eight_bit(image)
    factor = min(image.size) // draft if draft else 1
    if factor >= 2:
        if image.mode in ("1", "P"):  # modes Image.reduce does not take
            image = image.convert("RGBA" if _transparent(image) else "RGB")
        image = image.reduce(factor)  # frees the full-size pixels right away
    return _as_seen(image)


def _as_seen(image: Image.Image) -> Image.Image:
    """``image`` upright (its EXIF orientation) in RGB, its transparent parts as they show on a white page: the
    colours a file keeps under them are invisible, and must not change what a model sees."""
    image = ImageOps.exif_transpose(image)
    if _transparent(image):
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    return image.convert("RGB")


def _transparent(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit (or integer, or float) grey image as 8-bit grey: Pillow's ``convert`` clips such values at 255
    instead of scaling them, which turns a 16-bit PNG almost white."""
    if image.mode not in ("I", "F") and not image.mode.startswith("I;"):
        return image
    values = np.asarray(image, dtype=np.float32)
    scale = 257.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 1.0
    eight = Image.fromarray(np.clip(np.rint(values / scale), 0, 255).astype(np.uint8), "L")
    eight.info = image.info  # keeps the EXIF orientation for exif_transpose
    return eight


def resize(image: Image.Image, size: tuple[int, int] | int, policy: str = "stretch") -> Image.Image:
    size = (size, size) if isinstance(size, int) else tuple(size)
    if policy == "none":
        return image
    if policy == "stretch":
        return image.resize(size, Image.Resampling.BILINEAR)
    if policy == "pad":
        return ImageOps.pad(image, size, Image.Resampling.BILINEAR, color=(0, 0, 0))
    return ImageOps.fit(image, size, Image.Resampling.BILINEAR)


def to_pixels(image: Image.Image, size: int, mean, std) -> np.ndarray:
    """An RGB image squashed to ``size`` x ``size`` -> a normalised (3, size, size) float32 array: an encoder's input.

    ``mean`` and ``std`` are on the 0-255 scale, one number or one per channel.
    """
    array = np.asarray(image.resize((size, size)), dtype=np.float32).transpose(2, 0, 1)
    return (array - np.asarray(mean, np.float32).reshape(-1, 1, 1)) / np.asarray(std, np.float32).reshape(-1, 1, 1)
