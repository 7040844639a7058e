"""Noise corruptions (ImageNet-C): Gaussian, shot (Poisson), impulse (salt & pepper) and speckle.

With ``x`` the image scaled to [0, 1] and ``c`` the severity's parameter:
gaussian ``x + N(0, c²)``; shot ``Poisson(c·x) / c``; impulse: a fraction ``c`` of
the values set to 0 or 1 with equal odds; speckle ``x + x·N(0, c²)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mllmshift.shifts.base import ImageCorruption
from mllmshift.shifts.params import ShiftParams, bounded


@dataclass(frozen=True)
class NoiseParams(ShiftParams):
    """``scale``: the standard deviation (gaussian, speckle) or the photon count (shot); > 0."""

    scale: float = bounded(0, lo_open=True)


@dataclass(frozen=True)
class ImpulseParams(ShiftParams):
    """``scale``: the fraction of values flipped to 0 or 1, in (0, 1]."""

    scale: float = bounded(0, 1, lo_open=True)


class GaussianNoise(ImageCorruption):
    """Additive Gaussian noise ``x + N(0, scale²)`` on [0, 1] values."""

    name = "gaussian_noise"
    Params = NoiseParams
    TABLE = tuple(NoiseParams(c) for c in (0.08, 0.12, 0.18, 0.26, 0.38))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = x / 255.0
        return np.clip(x + rng.normal(size=x.shape, scale=self.params.scale), 0, 1) * 255


class ShotNoise(ImageCorruption):
    """Poisson photon noise ``Poisson(scale·x) / scale``."""

    name = "shot_noise"
    Params = NoiseParams
    TABLE = tuple(NoiseParams(c) for c in (60, 25, 12, 5, 3))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = x / 255.0
        return np.clip(rng.poisson(x * self.params.scale) / float(self.params.scale), 0, 1) * 255


class ImpulseNoise(ImageCorruption):
    """Salt-and-pepper noise: each value is replaced with probability ``scale`` by 0 or 1 (even odds).

    Same definition as scikit-image's ``random_noise(mode='s&p', amount=scale)``.
    """

    name = "impulse_noise"
    Params = ImpulseParams
    TABLE = tuple(ImpulseParams(c) for c in (0.03, 0.06, 0.09, 0.17, 0.27))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = x / 255.0
        flipped = rng.random(out.shape) <= self.params.scale
        salted = rng.random(out.shape) <= 0.5
        out[flipped & salted] = 1.0
        out[flipped & ~salted] = 0.0
        return out * 255


class SpeckleNoise(ImageCorruption):
    """Multiplicative noise ``x + x·N(0, scale²)``."""

    name = "speckle_noise"
    Params = NoiseParams
    TABLE = tuple(NoiseParams(c) for c in (0.15, 0.2, 0.35, 0.45, 0.6))

    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = x / 255.0
        return np.clip(x + x * rng.normal(size=x.shape, scale=self.params.scale), 0, 1) * 255
