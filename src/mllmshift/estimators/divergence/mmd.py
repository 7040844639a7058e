r"""Maximum mean discrepancy with an RBF kernel, as a permutation two-sample test.

.. math::

    \widehat{\mathrm{MMD}}^2_u = \frac{\sum_{i\ne j}k(a_i,a_j)}{m(m-1)} + \frac{\sum_{i\ne j}k(b_i,b_j)}{n(n-1)}
        - \frac{2\sum_{i,j}k(a_i,b_j)}{mn}

(Gretton et al., JMLR 2012), unbiased, with :math:`k(u,v)=\exp(-\|u-v\|^2/2\sigma^2)`
and σ by the median heuristic (or given). The p-value is
:math:`(1 + \#\{\text{permutations with } \mathrm{MMD}^2_u \ge \text{observed}\}) / (1 + B)`
over B seeded random relabellings of the pooled sample, which is a valid
(exact-level) test. **This is not a JSD**: the statistic has no ln 2 scale and
cannot be a term of the EMID bound; it is a :class:`~mllmshift.estimators.base.TwoSampleTest`
that says whether two samples differ at all. Each sample is subsampled (seeded)
to at most ``max_samples`` points because the kernel matrix is (m+n)².
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mllmshift.estimators.base import TwoSampleResult, TwoSampleTest, as_2d_float
from mllmshift.estimators.divergence.kernels import median_bandwidth, rbf_kernel


def mmd2_unbiased(kernel: np.ndarray, in_a: np.ndarray) -> np.ndarray:
    """Unbiased MMD² for each labelling (columns of the boolean matrix ``in_a``, N × B) of a kernel matrix."""
    a = in_a.astype(np.float64)
    b = 1.0 - a
    m, n = a.sum(axis=0), b.sum(axis=0)
    ka = kernel @ a
    diag = np.diag(kernel)
    saa = np.einsum("ib,ib->b", a, ka) - diag @ a
    sab = np.einsum("ib,ib->b", b, ka)
    kb = kernel.sum(axis=1, keepdims=True) - ka
    sbb = np.einsum("ib,ib->b", b, kb) - diag @ b
    return saa / (m * (m - 1)) + sbb / (n * (n - 1)) - 2.0 * sab / (m * n)


class MMDTest(TwoSampleTest):
    """RBF-kernel MMD² (unbiased) with a permutation p-value."""

    name = "mmd"

    def __init__(self, n_permutations: int = 200, bandwidth: float | str = "median", max_samples: int = 2000,
                 seed: int = 0) -> None:
        if n_permutations < 1:
            raise ValueError("n_permutations must be at least 1")
        if max_samples < 2:
            raise ValueError("max_samples must be at least 2")
        if isinstance(bandwidth, str) and bandwidth != "median":
            raise ValueError(f"bandwidth must be a positive number or 'median', got {bandwidth!r}")
        self.n_permutations = n_permutations
        self.bandwidth = bandwidth
        self.max_samples = max_samples
        self.seed = seed

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "n_permutations": self.n_permutations, "bandwidth": self.bandwidth,
                "max_samples": self.max_samples, "seed": self.seed}

    def test(self, a: Any, b: Any) -> TwoSampleResult:
        a2, b2 = as_2d_float(a, "a").astype(np.float64), as_2d_float(b, "b").astype(np.float64)
        if a2.shape[1] != b2.shape[1]:
            raise ValueError(f"the two samples must have the same dimension, got {a2.shape[1]} and {b2.shape[1]}")
        if min(len(a2), len(b2)) < 2:
            raise ValueError("each sample needs at least 2 points")
        rng = np.random.default_rng(self.seed)
        if len(a2) > self.max_samples:
            a2 = a2[rng.choice(len(a2), self.max_samples, replace=False)]
        if len(b2) > self.max_samples:
            b2 = b2[rng.choice(len(b2), self.max_samples, replace=False)]
        sigma = median_bandwidth(a2, b2, rng) if self.bandwidth == "median" else float(self.bandwidth)
        z = np.vstack([a2, b2])
        kernel = rbf_kernel(z, z, sigma)
        m, total = len(a2), len(z)
        observed = np.zeros((total, 1), dtype=bool)
        observed[:m] = True
        stat = float(mmd2_unbiased(kernel, observed)[0])
        exceed = 0
        block = 64
        done = 0
        while done < self.n_permutations:
            nb = min(block, self.n_permutations - done)
            labels = np.zeros((total, nb), dtype=bool)
            for j in range(nb):
                labels[rng.permutation(total)[:m], j] = True
            exceed += int(np.sum(mmd2_unbiased(kernel, labels) >= stat - 1e-12))
            done += nb
        return TwoSampleResult(stat, (1 + exceed) / (1 + self.n_permutations), self.n_permutations, self.seed)
