r"""Representation JSD with an RBF kernel, through random Fourier features.

The linear-kernel RJSD (:mod:`~mllmshift.estimators.divergence.rjsd`) compares
only second moments: two distributions with the same uncentred covariance
have RJSD 0. With a characteristic kernel the covariance *operator* of the
feature map determines the distribution. Random Fourier features
(Rahimi & Recht, 2007) give an explicit D-dimensional map φ with
:math:`\varphi(a)^\top\varphi(b) \approx \exp(-\|a-b\|^2/2\sigma^2)`; the
estimate is the trace-normalised RJSD of the features,

.. math::

    \mathrm{RJSD}_\varphi = S\!\left(\tfrac{C_P + C_Q}2\right) - \tfrac12\big(S(C_P)+S(C_Q)\big),
    \quad C = \frac{\Phi^\top\Phi}{\operatorname{tr}\Phi^\top\Phi},

in nats, within [0, ln 2] (Hoyos-Osorio & Sanchez-Giraldo, 2023). The bandwidth
σ is the median pooled pairwise distance (``bandwidth="median"``) times
``bandwidth_scale``, or a given number. W, b and the median subsample come from
a generator seeded with ``seed``; D = ``n_features``. The eigenvalues of
:math:`\Phi^\top\Phi` (D × D) equal the non-zero ones of :math:`\Phi\Phi^\top`
(n × n), so each entropy is computed on the smaller of the two (cost
O((n+m)·d·D + min(n+m, D)³)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mllmshift.estimators.base import DivergenceEstimator, as_2d_float
from mllmshift.estimators.divergence.kernels import median_bandwidth, random_fourier_features
from mllmshift.estimators.divergence.rjsd import gram, rjsd_from_grams, von_neumann_entropy


class RFFRJSD(DivergenceEstimator):
    """RJSD with an RBF kernel approximated by random Fourier features."""

    name = "rjsd-rff"

    def __init__(self, n_features: int = 1024, bandwidth: float | str = "median", bandwidth_scale: float = 1.0,
                 seed: int = 0) -> None:
        if n_features < 2:
            raise ValueError("n_features must be at least 2")
        if isinstance(bandwidth, str) and bandwidth != "median":
            raise ValueError(f"bandwidth must be a positive number or 'median', got {bandwidth!r}")
        if not isinstance(bandwidth, str) and not bandwidth > 0:
            raise ValueError("bandwidth must be positive")
        if not bandwidth_scale > 0:
            raise ValueError("bandwidth_scale must be positive")
        self.n_features = n_features
        self.bandwidth = bandwidth
        self.bandwidth_scale = bandwidth_scale
        self.seed = seed

    def sigma(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
        base = median_bandwidth(a, b, rng) if self.bandwidth == "median" else float(self.bandwidth)
        return base * self.bandwidth_scale

    def divergence(self, a: Any, b: Any) -> float:
        a2, b2 = as_2d_float(a, "a"), as_2d_float(b, "b")
        if a2.shape[1] != b2.shape[1]:
            raise ValueError(f"the two samples must have the same dimension, got {a2.shape[1]} and {b2.shape[1]}")
        rng = np.random.default_rng(self.seed)
        sigma = self.sigma(a2, b2, rng)
        w = rng.standard_normal((a2.shape[1], self.n_features)) / sigma
        phase = rng.uniform(0.0, 2.0 * np.pi, size=self.n_features)
        fa = random_fourier_features(a2.astype(np.float64), w, phase)
        fb = random_fourier_features(b2.astype(np.float64), w, phase)
        if len(fa) + len(fb) >= self.n_features:
            return rjsd_from_grams(gram(fa), gram(fb))
        # same value through the (smaller) row Gram matrices: C_P, C_Q and their mixture are WᵀW for
        # W = Φ_P/√tr, Φ_Q/√tr and [Φ_P/√(2 tr_P); Φ_Q/√(2 tr_Q)]
        ta, tb = float(np.sum(fa * fa)), float(np.sum(fb * fb))
        if ta <= 0 or tb <= 0:
            raise ValueError("a sample has all-zero features; its covariance has no trace to normalise by")
        wa, wb = fa / np.sqrt(ta), fb / np.sqrt(tb)
        mix = np.vstack([wa, wb]) / np.sqrt(2.0)
        value = von_neumann_entropy(mix @ mix.T) - 0.5 * (von_neumann_entropy(wa @ wa.T)
                                                          + von_neumann_entropy(wb @ wb.T))
        return max(float(value), 0.0)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "n_features": self.n_features, "bandwidth": self.bandwidth,
                "bandwidth_scale": self.bandwidth_scale, "seed": self.seed}
