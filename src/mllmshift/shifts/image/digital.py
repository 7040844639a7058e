"""Digital and colour corruptions (ImageNet-C): brightness, contrast, saturate, elastic transform, pixelate, JPEG.

- brightness: ``V + c`` in HSV; contrast: ``(x - mean)·c + mean`` per channel;
  saturate: ``S·a + b`` in HSV (severities 1–2 desaturate, 3–5 oversaturate).
- elastic: each pixel moved by a Gaussian-smoothed (σ = 1% of the size) uniform
  random field of amplitude ``alpha·0.5%`` of the height, bilinear, reflected borders
  (the size-independent form of ``imagecorruptions``).
- pixelate: box downscale by ``factor`` then nearest upscale; JPEG: re-encode at ``quality``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from mllmshift.shifts.base import ImageCorruption
from mllmshift.shifts.params import ShiftParams, bounded


def _hsv() -> Any:
    from skimage import color

    return color


@dataclass(frozen=True)
class BrightnessParams(ShiftParams):
    amount: float = bounded(0, 1, lo_open=True)


class Brightness(ImageCorruption):
    """Add ``amount`` to the HSV value channel."""

    name = "brightness"
    Params = BrightnessParams
    TABLE = tuple(BrightnessParams(c) for c in (0.1, 0.2, 0.3, 0.4, 0.5))
    deterministic = True

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        color = _hsv()
        hsv = color.rgb2hsv(x / 255.0)
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + self.params.amount, 0, 1)
        return np.clip(color.hsv2rgb(hsv), 0, 1) * 255


@dataclass(frozen=True)
class ContrastParams(ShiftParams):
    factor: float = bounded(0, 1, hi_open=True)


class Contrast(ImageCorruption):
    """Scale each channel's deviation from its mean by ``factor``."""

    name = "contrast"
    Params = ContrastParams
    TABLE = tuple(ContrastParams(c) for c in (0.4, 0.3, 0.2, 0.1, 0.05))
    deterministic = True

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = x / 255.0
        means = np.mean(x, axis=(0, 1), keepdims=True)
        return np.clip((x - means) * self.params.factor + means, 0, 1) * 255


@dataclass(frozen=True)
class SaturateParams(ShiftParams):
    scale: float = bounded(0)
    offset: float = bounded(-1, 1)


class Saturate(ImageCorruption):
    """HSV saturation ``S·scale + offset``."""

    name = "saturate"
    Params = SaturateParams
    TABLE = (SaturateParams(0.3, 0), SaturateParams(0.1, 0), SaturateParams(2, 0), SaturateParams(5, 0.1),
             SaturateParams(20, 0.2))
    deterministic = True

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        color = _hsv()
        hsv = color.rgb2hsv(x / 255.0)
        hsv[:, :, 1] = np.clip(hsv[:, :, 1] * self.params.scale + self.params.offset, 0, 1)
        return np.clip(color.hsv2rgb(hsv), 0, 1) * 255


@dataclass(frozen=True)
class ElasticParams(ShiftParams):
    alpha: float = bounded(0, lo_open=True)
    #: smoothing of the displacement field, as a fraction of each side
    sigma_fraction: float = bounded(0, 1, lo_open=True, default=0.01)
    #: amplitude of the raw field, as a fraction of the height
    max_shift_fraction: float = bounded(0, 1, lo_open=True, default=0.005)


class ElasticTransform(ImageCorruption):
    """Elastic deformation: ``x(p + alpha·G_σ * U(-m, m))`` per axis, bilinear, reflected borders."""

    name = "elastic_transform"
    Params = ElasticParams
    TABLE = tuple(ElasticParams(250 * c) for c in (0.05, 0.065, 0.085, 0.1, 0.12))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        image = (x / 255.0).astype(np.float32)
        h, w = image.shape[:2]
        sigma = np.array([h, w], dtype=np.float64) * p.sigma_fraction
        m = h * p.max_shift_fraction

        def field() -> np.ndarray:
            raw = rng.uniform(-m, m, size=(h, w))
            return (ndimage.gaussian_filter(raw, sigma, mode="reflect", truncate=3) * p.alpha).astype(np.float32)

        dx, dy = field(), field()
        yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        coords = np.stack([(yy + dy).ravel(), (xx + dx).ravel()])
        out = np.stack([ndimage.map_coordinates(image[..., c], coords, order=1, mode="reflect").reshape(h, w)
                        for c in range(image.shape[2])], axis=2)
        return np.clip(out, 0, 1) * 255


@dataclass(frozen=True)
class PixelateParams(ShiftParams):
    factor: float = bounded(0, 1, lo_open=True, hi_open=True)


class Pixelate(ImageCorruption):
    """Box downscale to ``factor`` of the size, nearest-neighbour upscale back."""

    name = "pixelate"
    Params = PixelateParams
    TABLE = tuple(PixelateParams(c) for c in (0.6, 0.5, 0.4, 0.3, 0.25))
    deterministic = True

    def _corrupt_image(self, img: Any, rng: np.random.Generator) -> Any:
        from PIL import Image

        w, h = img.size
        small = img.resize((max(1, int(w * self.params.factor)), max(1, int(h * self.params.factor))), Image.BOX)
        return small.resize((w, h), Image.NEAREST)

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover - image hook used
        raise NotImplementedError


@dataclass(frozen=True)
class JPEGParams(ShiftParams):
    quality: int = bounded(1, 100)


class JPEGCompression(ImageCorruption):
    """Re-encode as JPEG at ``quality`` (Pillow's encoder, default subsampling)."""

    name = "jpeg_compression"
    Params = JPEGParams
    TABLE = tuple(JPEGParams(c) for c in (25, 18, 15, 10, 7))
    deterministic = True

    def _corrupt_image(self, img: Any, rng: np.random.Generator) -> Any:
        from PIL import Image

        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=self.params.quality)
        buf.seek(0)
        with Image.open(buf) as out:
            return out.convert("RGB")

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover - image hook used
        raise NotImplementedError
