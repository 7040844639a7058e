"""Image items: paths, PIL images or uint8 arrays, loaded as RGB and hashed by content.

Image encoders accept any of

- a path (``str`` or ``os.PathLike``) to an image file PIL can read;
- a ``PIL.Image.Image`` (any mode; converted to 8-bit RGB by :func:`mllmshift.io.images.to_rgb`);
- a ``numpy`` array of shape (H, W) or (H, W, 3|4), dtype uint8 (4 channels: RGBA, composited over white).

An unreadable file, or one over the pixel limit, raises :class:`~mllmshift.errors.DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.errors import DataError
from mllmshift.io.images import DEFAULT_MAX_PIXELS, check_image, load_image, to_rgb

ImageItem = Any  # str | os.PathLike | PIL.Image.Image | np.ndarray


def is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


def load_rgb(item: ImageItem, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Any:
    """The item as an 8-bit RGB ``PIL.Image`` (files are read fully, then closed).

    Files go through :func:`mllmshift.io.images.load_image` and in-memory images through
    :func:`~mllmshift.io.images.to_rgb`, so 16-bit, palette, alpha and CMYK images are converted
    correctly and an image over ``max_pixels`` (a decompression bomb) is a located error.
    """
    from PIL import Image

    if is_path(item):
        return load_image(item, max_pixels=max_pixels)
    if isinstance(item, Image.Image):
        check_image(item, max_pixels=max_pixels)
        return to_rgb(item)
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (3, 4)):
            raise DataError(f"image array must be uint8 (H, W) or (H, W, 3|4), got {item.dtype} {item.shape}")
        img = Image.fromarray(item)
        check_image(img, max_pixels=max_pixels)
        return to_rgb(img)
    raise DataError(f"unsupported image item of type {type(item).__name__}; give a path, a PIL image or a uint8 array")


def content_digest(item: ImageItem) -> bytes:
    """SHA-256 of the item's content: the file's bytes, or mode+size+pixels of an in-memory image.

    Two paths to identical files share a digest; a file and the same picture
    in memory do not (a decoded image is not its file).
    """
    from PIL import Image

    h = hashlib.sha256()
    if is_path(item):
        path = Path(item)
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError as err:
            raise DataError(f"cannot read image: {err.strerror or err}", path=path) from None
        return b"file:" + h.digest()
    if isinstance(item, Image.Image):
        h.update(f"{item.mode}:{item.size[0]}x{item.size[1]}:".encode())
        h.update(item.tobytes())
        return b"pil:" + h.digest()
    if isinstance(item, np.ndarray):
        arr = np.ascontiguousarray(item)
        h.update(f"{arr.dtype.str}:{arr.shape}:".encode())
        h.update(arr.tobytes())
        return b"array:" + h.digest()
    raise DataError(f"unsupported image item of type {type(item).__name__}; give a path, a PIL image or a uint8 array")
