r"""RBF-kernel helpers shared by RFF-RJSD and MMD: the median heuristic and random Fourier features.

The RBF kernel is :math:`k(a, b) = \exp(-\|a-b\|^2 / (2\sigma^2))`.
"""

from __future__ import annotations

import numpy as np


def median_bandwidth(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, max_points: int = 1000) -> float:
    """σ = the median Euclidean distance between distinct points of the pooled sample.

    At most ``max_points`` pooled points (drawn with ``rng``) are used, so the
    cost is bounded; that changes σ by a sampling error only.
    """
    z = np.vstack([a, b]).astype(np.float64)
    if len(z) > max_points:
        z = z[rng.choice(len(z), size=max_points, replace=False)]
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    iu = np.triu_indices(len(z), k=1)
    med = float(np.sqrt(np.median(d2[iu])))
    if not med > 0:
        raise ValueError("the median distance between points is 0 (all points equal?); give a bandwidth")
    return med


def rbf_kernel(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """k(a_i, b_j) for all pairs (float64)."""
    sa, sb = np.sum(a * a, axis=1), np.sum(b * b, axis=1)
    d2 = np.maximum(sa[:, None] + sb[None, :] - 2.0 * a @ b.T, 0.0)
    return np.exp(-d2 / (2.0 * sigma * sigma))


def random_fourier_features(z: np.ndarray, w: np.ndarray, phase: np.ndarray) -> np.ndarray:
    r"""φ(z) = √(2/D) cos(zW + b), W ~ N(0, σ⁻² I) (d × D), b ~ U[0, 2π): E[φ(a)ᵀφ(b)] = k(a, b)."""
    return np.sqrt(2.0 / w.shape[1]) * np.cos(z @ w + phase)
