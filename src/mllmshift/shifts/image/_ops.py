"""Array building blocks of the ImageNet-C corruptions, without OpenCV.

Where the reference (Hendrycks & Dietterich 2019; the ``imagecorruptions``
package) calls OpenCV, these functions reproduce OpenCV's definition: its
default border ``BORDER_REFLECT_101`` is NumPy's ``reflect`` / SciPy's
``mirror`` mode, its Gaussian kernel is ``exp(-i²/2σ²)`` normalised, its
bicubic resize uses Keys' kernel with ``a = -0.75`` on half-pixel centres
with replicated borders.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal

#: ITU-R 601 luma weights (OpenCV's RGB2GRAY)
LUMA = np.array([0.299, 0.587, 0.114])


def gaussian_kernel_1d(ksize: int, sigma: float) -> np.ndarray:
    """OpenCV ``getGaussianKernel(ksize, sigma)`` for ``sigma > 0``: ``exp(-(i-c)²/2σ²)``, summing to 1."""
    i = np.arange(ksize) - (ksize - 1) / 2
    k = np.exp(-(i**2) / (2 * sigma**2))
    return k / k.sum()


def filter2d(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """OpenCV ``filter2D`` (correlation, border REFLECT_101) of each channel of H×W[×C] ``x``.

    Small kernels use direct correlation, large ones FFT convolution of the
    padded image with the flipped kernel (the same sum).
    """
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    if kernel.size <= 25:
        k = kernel if x.ndim == 2 else kernel[..., None]
        return ndimage.correlate(x, k, mode="mirror")
    pad = ((ph, kh - 1 - ph), (pw, kw - 1 - pw)) + ((0, 0),) * (x.ndim - 2)
    xp = _pad_reflect101(x, pad)
    k = kernel[::-1, ::-1]
    if x.ndim == 3:
        k = k[..., None]
        return signal.fftconvolve(xp, k, mode="valid", axes=(0, 1))
    return signal.fftconvolve(xp, k, mode="valid")


def _pad_reflect101(x: np.ndarray, pad: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``np.pad(mode='reflect')`` that also works when the pad is wider than the image (repeats the reflection)."""
    out = x
    for axis, (before, after) in enumerate(pad):
        n = out.shape[axis]
        if n == 1:
            out = np.pad(out, [(before, after) if a == axis else (0, 0) for a in range(out.ndim)], mode="edge")
            continue
        idx = np.arange(-before, n + after)
        period = 2 * (n - 1)
        idx = np.abs(np.mod(idx, period))
        idx = np.where(idx >= n, period - idx, idx)
        out = np.take(out, idx, axis=axis)
    return out


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """ImageNet-C's anti-aliased disk: a normalised binary disk, Gaussian-blurred (3×3, or 5×5 for radius > 8)."""
    if radius <= 8:
        size, ksize = 8, 3
    else:
        size, ksize = int(radius), 5
    grid = np.arange(-size, size + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    disk /= disk.sum()
    g = gaussian_kernel_1d(ksize, alias_blur).astype(np.float32)
    return filter2d(disk, np.outer(g, g).astype(np.float32)).astype(np.float32)


def gaussian_filter_rgb(x: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """scikit-image ``gaussian(x, sigma, channel_axis=-1)``: per-channel Gaussian, border ``nearest``."""
    sig = (sigma, sigma, 0) if x.ndim == 3 else sigma
    return ndimage.gaussian_filter(x, sigma=sig, mode=mode, truncate=truncate)


def clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    """Zoom the centre crop of ``img`` (H×W×C) by ``zoom_factor`` with bilinear ``scipy.ndimage.zoom``.

    The result is at least H×W (ImageNet-C crops it to the image afterwards).
    """
    h, w = img.shape[:2]
    ch0 = int(np.ceil(h / float(zoom_factor)))
    top0 = (h - ch0) // 2
    ch1 = int(np.ceil(w / float(zoom_factor)))
    top1 = (w - ch1) // 2
    return ndimage.zoom(img[top0:top0 + ch0, top1:top1 + ch1], (zoom_factor, zoom_factor, 1), order=1)


def motion_blur_array(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """``imagecorruptions``' motion blur (a stand-in for ImageMagick's): Gaussian-weighted sum of shifted copies.

    For ``i`` in ``0..2r``: ``out += k_i · shift(x, dx_i, dy_i)`` with ``k_i ∝ exp(-i²/2σ²)``,
    ``(dy_i, dx_i) = -ceil(i·(sin θ, cos θ) - 0.5)``, replicated edges; stops once a shift
    leaves the image.
    """
    width = 2 * radius + 1
    k = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    k = k / k.sum()
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hyp = math.hypot(point[0], point[1])
    h, w = x.shape[:2]
    pad = width  # every shift used is < width: edge-padded views replace per-step copies
    padded = np.pad(x.astype(np.float64), ((pad, pad), (pad, pad)) + ((0, 0),) * (x.ndim - 2), mode="edge")
    out = np.zeros(x.shape, dtype=np.float64)
    for i in range(width):
        dy = -math.ceil(((i * point[0]) / hyp) - 0.5)
        dx = -math.ceil(((i * point[1]) / hyp) - 0.5)
        if abs(dy) >= h or abs(dx) >= w:
            break
        out += k[i] * padded[pad - dy:pad - dy + h, pad - dx:pad - dx + w]
    return out


def plasma_fractal(rng: np.random.Generator, mapsize: int = 256, wibbledecay: float = 3) -> np.ndarray:
    """Diamond-square height map (ImageNet-C fog) on a ``mapsize``² grid (power of two), scaled to [0, 1]."""
    if mapsize < 2 or mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two >= 2, got {mapsize}")
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100.0

    def wibbledmean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        corner = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corner + np.roll(corner, shift=-1, axis=0)
        square += np.roll(square, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(square)
        dr = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        ul = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        lt = dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(lt)
        tt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(tt)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    top = maparray.max()
    return maparray / top if top > 0 else maparray


def next_power_of_2(x: int) -> int:
    return 1 if x == 0 else 2 ** (x - 1).bit_length()


def _cubic_weights(n_in: int, n_out: int, a: float = -0.75) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n_out×4, replicated border) and Keys weights (n_out×4) of OpenCV's INTER_CUBIC along one axis."""
    scale = n_in / n_out
    pos = (np.arange(n_out) + 0.5) * scale - 0.5
    base = np.floor(pos)
    t = pos - base
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    w3 = 1 - w0 - w1 - w2
    idx = base.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :]
    return np.clip(idx, 0, n_in - 1), np.stack([w0, w1, w2, w3], axis=1)


def resize_cubic(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV ``resize(img, (width, height), INTER_CUBIC)`` of a uint8 H×W×C image (rounded, saturated)."""
    x = img.astype(np.float32)
    iy, wy = _cubic_weights(x.shape[0], height)
    rows = sum(wy[:, j, None, None].astype(np.float32) * x[iy[:, j]] for j in range(4))
    ix, wx = _cubic_weights(x.shape[1], width)
    out = sum(wx[None, :, j, None].astype(np.float32) * rows[:, ix[:, j]] for j in range(4))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def rgb_to_gray(x: np.ndarray) -> np.ndarray:
    """Luma ``0.299 R + 0.587 G + 0.114 B`` of an H×W×3 array."""
    return x @ LUMA.astype(x.dtype)
