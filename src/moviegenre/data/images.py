"""The one safe image loader: every poster in moviegenre is opened here."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from moviegenre.errors import ImageError

# A real poster is well under 10 MP; 40 MP still admits print-resolution scans but stops bombs.
MAX_PIXELS = 40_000_000
RESIZE_POLICIES = ("none", "stretch", "pad", "crop")


def load_image(source: str | Path | bytes, *, size: tuple[int, int] | int | None = None,
               policy: str = "stretch", name: str | None = None, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``source`` (a path or raw bytes) to an RGB image, optionally resized to ``size`` (w, h).

    policy: ``stretch`` resizes to size ignoring aspect; ``pad`` keeps aspect and pads with black;
    ``crop`` keeps aspect and centre-crops; ``none`` returns the decoded image as is.
    Raises :class:`ImageError` (one line, naming the file) for non-images, truncated files and bombs.
    """
    if policy not in RESIZE_POLICIES:
        raise ImageError("resize", f"unknown policy '{policy}'", hint=f"use one of {', '.join(RESIZE_POLICIES)}")
    label = name or (str(source) if not isinstance(source, bytes) else "<upload>")
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as error:
        raise ImageError(label, f"cannot read ({error.strerror or error})", hint="check the path") from None
    if not data:
        raise ImageError(label, "empty file", hint="give a JPEG, PNG or WebP poster")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(label, f"image is {width}x{height} pixels, over the {max_pixels:,} limit",
                                 hint="downscale it first (possible decompression bomb)")
            image.load()
            image = ImageOps.exif_transpose(image).convert("RGB")
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(label, "image is too large to decode safely", hint="possible decompression bomb") from None
    except UnidentifiedImageError:
        raise ImageError(label, "not an image", hint="give a JPEG, PNG or WebP poster") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(label, f"damaged or truncated image ({error})", hint="re-download or re-export it") from None
    return resize(image, size, policy) if size else image


def resize(image: Image.Image, size: tuple[int, int] | int, policy: str = "stretch") -> Image.Image:
    size = (size, size) if isinstance(size, int) else tuple(size)
    if policy == "none":
        return image
    if policy == "stretch":
        return image.resize(size, Image.Resampling.BILINEAR)
    if policy == "pad":
        return ImageOps.pad(image, size, Image.Resampling.BILINEAR, color=(0, 0, 0))
    return ImageOps.fit(image, size, Image.Resampling.BILINEAR)
