r"""Sampled CLUB ("CLUBSample", Cheng et al., ICML 2020): CLUB with one random negative per positive.

The variational :math:`q_\theta(y\mid x)` is fitted exactly as for
:class:`~mllmshift.estimators.mi.club.CLUB` (maximum likelihood, same network
and early stopping). The estimate replaces CLUB's mean over all n negatives by
one negative per row, :math:`y_{\pi(i)}` for a random permutation π:

.. math::

    \hat I_{\mathrm{vCLUB\text{-}S}} = \frac1n\sum_i\big[\log q(y_i\mid x_i) - \log q(y_{\pi(i)}\mid x_i)\big]
      = \frac1n\sum_i\sum_d \frac{(y_{\pi(i)d}-\mu_{id})^2 - (y_{id}-\mu_{id})^2}{2\sigma^2_{id}},

an unbiased estimate of the same population quantity, O(n·d) work, with more
variance than CLUB's all-pairs negative term. π is drawn from a generator
seeded with the estimator's seed, so an estimate is reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mllmshift.estimators.base import check_pairs
from mllmshift.estimators.mi.club import CLUB


class SampledCLUB(CLUB):
    """CLUB whose negative term uses one permuted y per positive pair (CLUBSample)."""

    name = "club-sampled"

    def _permutation(self, n: int) -> np.ndarray:
        return np.random.default_rng(self.cfg.seed).permutation(n)

    def mi(self, x: Any, y: Any) -> float:
        xa, ya = check_pairs(x, y)
        self._check_dims(xa, ya)
        return self.mi_many(xa, [ya])[0]

    def mi_many(self, x: Any, ys: list[Any]) -> list[float]:
        """Estimates for several y-samples sharing x (μ, σ² computed once; the same π for each)."""
        xa = np.asarray(x)
        ys = [np.asarray(y) for y in ys]
        for y in ys:
            xa_c, y_c = check_pairs(xa, y)
            self._check_dims(xa_c, y_c)
        mu, inv = self.conditional(xa)
        perm = self._permutation(len(xa))
        out = []
        for y in ys:
            y64 = y.astype(np.float64)
            pos = ((y64 - mu) ** 2 * inv).sum(axis=1)
            neg = ((y64[perm] - mu) ** 2 * inv).sum(axis=1)
            out.append(float(0.5 * np.mean(neg - pos)))
        return out

    def mi_weighted(self, x: Any, y: Any, weights: np.ndarray) -> np.ndarray:
        """Estimates on bootstrap resamples (rows of ``weights`` = multiplicities / n), one :meth:`mi` each."""
        xa, ya = check_pairs(x, y)
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != len(xa):
            raise ValueError(f"weights must be (B, {len(xa)}), got {w.shape}")
        out = np.empty(len(w))
        for b, row in enumerate(w):
            idx = np.repeat(np.arange(len(xa)), np.rint(row * len(xa)).astype(np.int64))
            out[b] = self.mi(xa[idx], ya[idx])
        return out
