"""Weather corruptions (ImageNet-C): snow, frost, fog and spatter.

- snow: a thresholded, zoomed and motion-blurred Gaussian layer added twice (once
  rotated 180°) to an image brightened towards its luma.
- frost: ``a·x + b·F`` with ``F`` a random crop of one of the five frost
  photographs of ImageNet-C, resized (OpenCV bicubic) to cover the image ×1.1.
- fog: ``(x + s·P)·max(x)/(max(x) + s)`` with ``P`` a diamond-square plasma fractal.
- spatter: water drops (severities 1–3) or mud (4–5) from a thresholded blurred
  Gaussian layer.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from mllmshift.errors import MissingDependencyError
from mllmshift.shifts.base import ImageCorruption
from mllmshift.shifts.image._ops import (
    clipped_zoom,
    filter2d,
    gaussian_filter_rgb,
    motion_blur_array,
    next_power_of_2,
    plasma_fractal,
    resize_cubic,
    rgb_to_gray,
)
from mllmshift.shifts.params import ShiftParams, bounded

FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


# ---------------------------------------------------------------------------------------------- snow


@dataclass(frozen=True)
class SnowParams(ShiftParams):
    mean: float
    std: float = bounded(0)
    zoom: float = bounded(1, 10)
    threshold: float
    blur_radius: int = bounded(1, 100)
    blur_sigma: float = bounded(0, 100, lo_open=True)
    blend: float = bounded(0, 1)


class Snow(ImageCorruption):
    """Snow flakes: ``blend·x + (1-blend)·max(x, 1.5·luma+0.5) + S + rot180(S)``."""

    name = "snow"
    Params = SnowParams
    TABLE = (SnowParams(0.1, 0.3, 3, 0.5, 10, 4, 0.8), SnowParams(0.2, 0.3, 2, 0.5, 12, 4, 0.7),
             SnowParams(0.55, 0.3, 4, 0.9, 12, 8, 0.7), SnowParams(0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
             SnowParams(0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        x = (x / 255.0).astype(np.float32)
        h, w = x.shape[:2]
        layer = rng.normal(size=(h, w), loc=p.mean, scale=p.std)
        layer = clipped_zoom(layer[..., None], p.zoom)
        layer[layer < p.threshold] = 0
        layer = np.clip(layer[..., 0], 0, 1)
        layer = motion_blur_array(layer, p.blur_radius, p.blur_sigma, rng.uniform(-135, -45))
        layer = (np.round(layer * 255).astype(np.uint8) / 255.0)[:h, :w, None]
        gray = rgb_to_gray(x)[..., None]
        x = p.blend * x + (1 - p.blend) * np.maximum(x, gray * 1.5 + 0.5)
        out = x.astype(np.float64)
        out[:layer.shape[0], :layer.shape[1]] += layer + np.rot90(layer, k=2)
        return np.clip(out, 0, 1) * 255


# ---------------------------------------------------------------------------------------------- frost


def frost_dir() -> Path:
    """The folder of ImageNet-C's frost photographs, shipped inside this package (``mllmshift/data/frost``).

    They are the six photographs of Hendrycks & Dietterich's ImageNet-C (Apache-2.0), byte for byte as
    the ``imagecorruptions`` package ships them (``mllmshift/data/frost/LICENSE`` gives their origin and
    checksums). ``MLLMSHIFT_FROST_DIR`` points at another folder of the same six files.
    """
    env = os.environ.get("MLLMSHIFT_FROST_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data" / "frost"


@functools.lru_cache(maxsize=8)
def _frost_texture(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    arr.setflags(write=False)
    return arr


def frost_available() -> bool:
    """Whether all frost photographs are installed (the ``frost`` corruption needs them)."""
    folder = frost_dir()
    return all((folder / name).is_file() for name in FROST_FILES)


def frost_texture(index: int) -> np.ndarray:
    """Frost photograph ``index`` (0-based) as an RGB uint8 array."""
    path = frost_dir() / FROST_FILES[index]
    if not path.is_file():
        raise MissingDependencyError(f"corruption 'frost' ({path} is missing; reinstall mllmshift or fix "
                                     "MLLMSHIFT_FROST_DIR)", "mllmshift")
    return _frost_texture(str(path))


def frost_scaled(texture: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The texture resized (bicubic) so that it covers ``shape`` (H, W), times 1.1 (ImageNet-C's rule)."""
    fh, fw = texture.shape[:2]
    h, w = shape
    if fh >= h and fw >= w:
        s = 1.0
    elif fh < h and fw >= w:
        s = h / fh
    elif fh >= h and fw < w:
        s = w / fw
    else:
        s = max(h / fh, w / fw)
    s *= 1.1
    return resize_cubic(texture, int(np.ceil(fw * s)), int(np.ceil(fh * s)))


@dataclass(frozen=True)
class FrostParams(ShiftParams):
    image_weight: float = bounded(0, 1)
    frost_weight: float = bounded(0, 1)
    #: textures drawn from (ImageNet-C draws among the first five of its six)
    n_textures: int = bounded(1, len(FROST_FILES), default=5)


class Frost(ImageCorruption):
    """``image_weight·x + frost_weight·F`` with ``F`` a random crop of a frost photograph."""

    name = "frost"
    Params = FrostParams
    TABLE = (FrostParams(1, 0.4), FrostParams(0.8, 0.6), FrostParams(0.7, 0.7), FrostParams(0.65, 0.7),
             FrostParams(0.6, 0.75))

    def blend(self, x: np.ndarray, idx: int, top: int, left: int, scaled: np.ndarray | None = None) -> np.ndarray:
        """``image_weight·x + frost_weight·F`` with ``F`` texture ``idx`` (scaled) cropped at ``(top, left)``."""
        h, w = x.shape[:2]
        fr = scaled if scaled is not None else frost_scaled(frost_texture(idx), (h, w))
        fr = fr[top:top + h, left:left + w]
        return np.clip(self.params.image_weight * x + self.params.frost_weight * fr, 0, 255)

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # draws in the reference's order: texture index, then the crop's top and left
        shape = x.shape[:2]
        idx = int(rng.integers(self.params.n_textures))
        fr = frost_scaled(frost_texture(idx), shape)
        top = int(rng.integers(0, fr.shape[0] - shape[0]))
        left = int(rng.integers(0, fr.shape[1] - shape[1]))
        return self.blend(x, idx, top, left, fr)


# ---------------------------------------------------------------------------------------------- fog


@dataclass(frozen=True)
class FogParams(ShiftParams):
    strength: float = bounded(0, lo_open=True)
    wibble_decay: float = bounded(0, lo_open=True)


class Fog(ImageCorruption):
    """``(x + strength·P)·m/(m + strength)``, ``P`` a plasma fractal in [0, 1], ``m = max(x)``."""

    name = "fog"
    Params = FogParams
    TABLE = (FogParams(1.5, 2), FogParams(2.0, 2), FogParams(2.5, 1.7), FogParams(2.5, 1.5), FogParams(3.0, 1.4))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        h, w = x.shape[:2]
        mapsize = max(2, next_power_of_2(int(max(x.shape))))
        x = x / 255.0
        max_val = x.max()
        x = x + p.strength * plasma_fractal(rng, mapsize, p.wibble_decay)[:h, :w][..., None]
        return np.clip(x * max_val / (max_val + p.strength), 0, 1) * 255


# ---------------------------------------------------------------------------------------------- spatter


@dataclass(frozen=True)
class SpatterParams(ShiftParams):
    mean: float
    std: float = bounded(0)
    sigma: float = bounded(0, 100, lo_open=True)
    threshold: float
    intensity: float = bounded(0, lo_open=True)
    mud: bool


def _equalize_hist(img: np.ndarray) -> np.ndarray:
    """OpenCV ``equalizeHist`` of a uint8 image."""
    hist = np.bincount(img.ravel(), minlength=256)
    nz = np.flatnonzero(hist)
    if nz.size <= 1:
        return img.copy()
    total = img.size - hist[nz[0]]
    scale = 255.0 / total
    lut = np.zeros(256)
    lut[nz[0] + 1:] = np.cumsum(hist[nz[0] + 1:]) * scale
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)[img]


def _edges(img: np.ndarray) -> np.ndarray:
    """Canny edges (thresholds 50/150 on Sobel L1 magnitude, no pre-smoothing, as OpenCV's Canny)."""
    from skimage.feature import canny

    g = img.astype(np.float64)
    return canny(g, sigma=0.0, low_threshold=50.0, high_threshold=150.0, mode="mirror") if g.size > 1 \
        else np.zeros(g.shape, bool)


class Spatter(ImageCorruption):
    """Water drops (pale turquoise, edges shaded) or mud (brown) over the image.

    Water follows ImageNet-C with scikit-image's Canny and an exact Euclidean
    distance transform in place of OpenCV's Canny and 5×5-mask distance, so it
    is close to, not pixel-identical with, the reference.
    """

    name = "spatter"
    Params = SpatterParams
    TABLE = (SpatterParams(0.65, 0.3, 4, 0.69, 0.6, False), SpatterParams(0.65, 0.3, 3, 0.68, 0.6, False),
             SpatterParams(0.65, 0.3, 2, 0.68, 0.5, False), SpatterParams(0.65, 0.3, 1, 0.65, 1.5, True),
             SpatterParams(0.67, 0.4, 1, 0.65, 1.5, True))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        x = (x / 255.0).astype(np.float32)
        liquid = rng.normal(size=x.shape[:2], loc=p.mean, scale=p.std)
        liquid = gaussian_filter_rgb(liquid, p.sigma)
        liquid[liquid < p.threshold] = 0
        if not p.mud:
            liquid8 = (liquid * 255).astype(np.uint8)
            not_edge = ~_edges(liquid8)
            dist = ndimage.distance_transform_edt(not_edge) if (~not_edge).any() else np.full(liquid8.shape, 20.0)
            dist = np.minimum(dist, 20).astype(np.float32)
            dist = filter2d(dist, np.full((3, 3), 1 / 9, np.float32)).astype(np.uint8)
            dist = _equalize_hist(dist)
            ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)
            dist = np.clip(np.rint(filter2d(dist.astype(np.float32), ker)), 0, 255).astype(np.uint8)
            dist = filter2d(dist.astype(np.float32), np.full((3, 3), 1 / 9, np.float32))
            m = liquid8.astype(np.float32) * dist
            top = m.max()
            m = (m / top if top > 0 else m) * p.intensity
            color = np.array([175, 238, 238], np.float32) / 255.0
            return np.clip(x + m[..., None] * color, 0, 1) * 255
        m = gaussian_filter_rgb(np.where(liquid > p.threshold, 1.0, 0.0).astype(np.float32), p.intensity)
        m[m < 0.8] = 0
        color = np.array([63, 42, 20], np.float32) / 255.0 * m[..., None]
        return np.clip(x * (1 - m[..., None]) + color, 0, 1) * 255
