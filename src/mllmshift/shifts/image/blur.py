"""Blur corruptions (ImageNet-C): defocus, glass, motion, zoom and Gaussian blur.

- defocus: each channel correlated with an anti-aliased disk of the given radius
  (``disk_kernel``; OpenCV ``filter2D`` semantics, border REFLECT_101).
- glass: Gaussian blur, then ``iterations`` passes that copy into each pixel the
  pixel at a random offset in ``[-max_delta, max_delta)`` (ImageNet-C's loop; its
  "swap" only copies, which is kept), then Gaussian blur again.
- motion: Gaussian-weighted sum of copies shifted along a random angle in [-45°, 45°].
- zoom: mean of the image and its centre zooms by each factor of ``zooms``.
- gaussian: Gaussian blur with standard deviation ``sigma`` (border ``nearest``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mllmshift.shifts.base import ImageCorruption
from mllmshift.shifts.image._ops import clipped_zoom, disk_kernel, filter2d, gaussian_filter_rgb, motion_blur_array
from mllmshift.shifts.params import ShiftParams, bounded


@dataclass(frozen=True)
class DefocusParams(ShiftParams):
    radius: float = bounded(0, 100, lo_open=True)
    alias_blur: float = bounded(0, 10, lo_open=True)


class DefocusBlur(ImageCorruption):
    """Convolution with an anti-aliased disk of ``radius`` pixels."""

    name = "defocus_blur"
    Params = DefocusParams
    TABLE = (DefocusParams(3, 0.1), DefocusParams(4, 0.5), DefocusParams(6, 0.5), DefocusParams(8, 0.5),
             DefocusParams(10, 0.5))
    deterministic = True

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        kernel = disk_kernel(self.params.radius, self.params.alias_blur)
        out = filter2d((x / 255.0).astype(np.float32), kernel)
        return np.clip(out, 0, 1) * 255


@dataclass(frozen=True)
class GlassParams(ShiftParams):
    sigma: float = bounded(0, 100, lo_open=True)
    max_delta: int = bounded(1, 100)
    iterations: int = bounded(1, 20)


def glass_shuffle(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """ImageNet-C's local pixel shuffle: visiting ``h`` from ``H-d`` down to ``d+1`` and, inside,
    ``w`` from ``W-d`` down to ``d+1``, set ``x[h, w] = x[h+dy, w+dx]``.

    ``offsets`` has shape (iterations, n_h, n_w, 2) holding ``(dx, dy)`` per visit;
    ``d`` is inferred from ``n_h = H - 2d``.
    """
    h, w = x.shape[:2]
    iters, nh, nw, _ = offsets.shape
    if nh == 0 or nw == 0:
        return x
    d = (h - nh) // 2
    hs = np.arange(h - d, d, -1)
    ws = np.arange(w - d, d, -1)
    targets = (hs[:, None] * w + ws[None, :]).ravel().tolist()
    perm = list(range(h * w))
    for it in range(iters):
        deltas = (offsets[it, ..., 1] * w + offsets[it, ..., 0]).ravel().tolist()
        for t, dlt in zip(targets, deltas):
            perm[t] = perm[t + dlt]
    return x.reshape(h * w, -1)[np.asarray(perm)].reshape(x.shape)


class GlassBlur(ImageCorruption):
    """Blur, local pixel shuffling (``iterations`` passes, offsets up to ``max_delta``), blur."""

    name = "glass_blur"
    Params = GlassParams
    TABLE = (GlassParams(0.7, 1, 2), GlassParams(0.9, 2, 1), GlassParams(1, 2, 3), GlassParams(1.1, 3, 2),
             GlassParams(1.5, 4, 2))

    def offsets(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        d = self.params.max_delta
        nh, nw = max(0, shape[0] - 2 * d), max(0, shape[1] - 2 * d)
        return rng.integers(-d, d, size=(self.params.iterations, nh, nw, 2))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.blur_with_offsets(x, self.offsets(x.shape, rng))

    def blur_with_offsets(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        p = self.params
        y = np.uint8(gaussian_filter_rgb(x / 255.0, p.sigma) * 255)
        y = glass_shuffle(y, offsets)
        return np.clip(gaussian_filter_rgb(y / 255.0, p.sigma), 0, 1) * 255


@dataclass(frozen=True)
class MotionParams(ShiftParams):
    radius: int = bounded(1, 100)
    sigma: float = bounded(0, 100, lo_open=True)
    max_angle: float = bounded(0, 180, default=45.0)


class MotionBlur(ImageCorruption):
    """Motion blur of ``radius`` (kernel width ``2r+1``, Gaussian weights ``sigma``) at a random angle."""

    name = "motion_blur"
    Params = MotionParams
    TABLE = (MotionParams(10, 3), MotionParams(15, 5), MotionParams(15, 8), MotionParams(15, 12), MotionParams(20, 15))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(-self.params.max_angle, self.params.max_angle)
        return np.clip(motion_blur_array(x, self.params.radius, self.params.sigma, angle), 0, 255)


@dataclass(frozen=True)
class ZoomParams(ShiftParams):
    #: zoom factors, each in [1, 10]
    zooms: tuple[float, ...] = bounded(1, 10)


def _arange(start: float, stop: float, step: float) -> tuple[float, ...]:
    return tuple(float(v) for v in np.arange(start, stop, step))


class ZoomBlur(ImageCorruption):
    """Mean of the image and its centre zooms by each factor of ``zooms``."""

    name = "zoom_blur"
    Params = ZoomParams
    TABLE = (ZoomParams(_arange(1, 1.11, 0.01)), ZoomParams(_arange(1, 1.16, 0.01)), ZoomParams(_arange(1, 1.21, 0.02)),
             ZoomParams(_arange(1, 1.26, 0.02)), ZoomParams(_arange(1, 1.31, 0.03)))
    deterministic = True

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = (x / 255.0).astype(np.float32)
        h, w = x.shape[:2]
        out = np.zeros_like(x)
        for z in self.params.zooms:
            layer = clipped_zoom(x, z)[:h, :w, :]
            out[:layer.shape[0], :layer.shape[1]] += layer
        x = (x + out) / (len(self.params.zooms) + 1)
        return np.clip(x, 0, 1) * 255


@dataclass(frozen=True)
class GaussianBlurParams(ShiftParams):
    sigma: float = bounded(0, 100, lo_open=True)


class GaussianBlur(ImageCorruption):
    """Gaussian blur with standard deviation ``sigma`` pixels."""

    name = "gaussian_blur"
    Params = GaussianBlurParams
    TABLE = tuple(GaussianBlurParams(c) for c in (1, 2, 3, 4, 6))
    deterministic = True

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(gaussian_filter_rgb(x / 255.0, self.params.sigma), 0, 1) * 255
