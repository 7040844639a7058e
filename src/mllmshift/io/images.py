"""The one image loader: every path that reads a picture (encoders, shifts, responders) goes through it.

:func:`load_image` opens a file, refuses it from its header when it has more than ``max_pixels``
pixels (and turns Pillow's ``DecompressionBombError`` into the same located error), decodes it and
converts it with :func:`to_rgb`, which maps every mode to 8-bit RGB *correctly*:

- 16-bit grey (``I;16``, ``I;16L``, ``I;16B``, ``I;16N``, and ``I``, read as 16-bit values clipped to
  [0, 65535]) is scaled, not clipped: ``v8 = round(v / 257)`` (half up; 65535 / 255 = 257 exactly).
  Pillow's own ``convert("RGB")`` clips at 255, so a 16-bit photograph became almost white.
- Modes with alpha (``RGBA``, ``LA``, ``PA``, pre-multiplied ``RGBa``/``La``) and palette or grey
  images with a transparency entry are composited over white:
  ``out = round((c·a + 255·(255 − a)) / 255)`` per channel (half up). Plain ``convert("RGB")`` drops
  alpha and shows whatever colour hides under transparent pixels.
- ``1``, ``L``, ``P``, ``CMYK`` (``R = (255 − C)(255 − K)/255``), ``YCbCr`` and ``HSV`` go through
  Pillow's converters, which are exact for them.
- 32-bit float (``F``) and modes Pillow cannot convert are refused: their value range is not defined.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from mllmshift.errors import DataError

#: Images with more pixels than this are refused (a 10,000×10,000 photo would take
#: minutes and gigabytes per corruption). Override with ``max_pixels=`` / ``--max-pixels``.
DEFAULT_MAX_PIXELS = 40_000_000

#: names the conversion :func:`to_rgb` performs; image encoders put it in their config, so embeddings
#: computed with an earlier conversion (16-bit clipped, alpha dropped) are not taken from the cache
RGB_CONVERSION = "mllmshift.io.images.to_rgb/2"

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageTooLargeError(DataError):
    """An image with more pixels than the configured limit (a decompression bomb, or just too big)."""


def check_image(img: object, *, max_pixels: int = DEFAULT_MAX_PIXELS, path: str | os.PathLike[str] | None = None,
                field: str | None = None, line: int | None = None) -> None:
    """Raise a clear error unless ``img`` is a PIL image of at least one and at most ``max_pixels`` pixels."""
    from PIL import Image

    if not isinstance(img, Image.Image):
        raise TypeError(f"expected a PIL.Image.Image, got {type(img).__name__}")
    w, h = img.size
    if w < 1 or h < 1:
        raise DataError(f"image has no pixels ({w}×{h})", path=path, line=line, field=field)
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"image is {w}×{h} = {w * h:,} pixels, over the limit of {max_pixels:,} "
            "(pass max_pixels= / --max-pixels to raise it)", path=path, line=line, field=field)


def _sixteen_bit_to_8(img: Any) -> np.ndarray:
    """A 16-bit grey image as uint8 values ``round(v / 257)`` (half up)."""
    v = np.asarray(img).astype(np.int64)
    v = np.clip(v, 0, 65535)
    return ((2 * v + 257) // 514).astype(np.uint8)


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 composited over white: ``round((c·a + 255·(255 − a)) / 255)``, half up."""
    c = rgba[..., :3].astype(np.int64)
    a = rgba[..., 3:4].astype(np.int64)
    return ((2 * (c * a + 255 * (255 - a)) + 255) // 510).astype(np.uint8)


def to_rgb(img: Any, *, path: str | os.PathLike[str] | None = None, field: str | None = None,
           line: int | None = None) -> Any:
    """``img`` (any mode) as an 8-bit RGB ``PIL.Image`` (see the module docstring for each mode)."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        return img
    if mode in SIXTEEN_BIT_MODES:
        return Image.fromarray(np.repeat(_sixteen_bit_to_8(img)[..., None], 3, axis=2), "RGB")
    if mode == "F":
        raise DataError("32-bit floating-point image: its value range is not defined; save it as 8- or 16-bit",
                        path=path, line=line, field=field)
    try:
        if mode in ALPHA_MODES or "transparency" in img.info:
            return Image.fromarray(_over_white(np.asarray(img.convert("RGBA"))), "RGB")
        return img.convert("RGB")
    except ValueError as err:
        raise DataError(f"image mode {mode} cannot be converted to RGB ({err})", path=path, line=line,
                        field=field) from None


def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, field: str | None = None,
               line: int | None = None) -> Any:
    """Open an image file fully decoded as 8-bit RGB, or raise a :class:`DataError` naming the file.

    The size is checked from the header before decoding, so an oversized image (or a decompression
    bomb) fails fast with :class:`ImageTooLargeError`; truncated and non-image files fail with a
    located error.
    """
    from PIL import Image, UnidentifiedImageError

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise DataError("image file not found" if not os.path.exists(p) else "image path is not a file", path=p,
                        line=line, field=field)
    try:
        with warnings.catch_warnings():  # the size is checked below against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
        with im:
            check_image(im, max_pixels=max_pixels, path=p, field=field, line=line)
            im.load()
            return to_rgb(im, path=p, field=field, line=line)
    except UnidentifiedImageError:
        raise DataError("not an image file (format not recognised)", path=p, line=line, field=field) from None
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(f"{err} (a decompression bomb, or an image over the limit)", path=p, line=line,
                                 field=field) from None
    except (OSError, SyntaxError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"cannot decode image ({err})", path=p, line=line, field=field) from None
