r"""Pairs of distributions (P, Q) with known Jensen–Shannon divergence (nats).

Each task has ``dim``, ``sample_p(n, rng)``, ``sample_q(n, rng)`` and
``true_jsd``. Where no closed form exists, the truth is the Monte Carlo value
of :func:`~mllmshift.validation.oracle.jsd_monte_carlo` on the true densities
(``logpdf_p``, ``logpdf_q``), with a fixed seed and sample size, so it is
reproducible; its standard error is kept beside it.

- ``identical``: P = Q, JSD = 0.
- Gaussian pairs: a mean shift, and a change of scale (same mean; the
  trace-normalised linear RJSD is blind to it by construction).
- Gaussian mixtures: two-component mixtures along different axes, and a
  mixture against the Gaussian with the *same* mean and covariance (blind spot
  of every second-moment estimator).
- Orthogonal subspaces: P lives in one k-dimensional subspace, Q in an
  orthogonal one; their supports meet only at 0, so JSD = ln 2 exactly.
  The embedding-like version puts both on the unit sphere in 768 dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

LN2 = math.log(2.0)


class JSDTask(Protocol):
    name: str
    dim: int

    @property
    def true_jsd(self) -> float: ...

    def sample_p(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def sample_q(self, n: int, rng: np.random.Generator) -> np.ndarray: ...


@dataclass(frozen=True)
class GaussianMixture:
    """Σ_k w_k N(mean_k, cov_k) (a single Gaussian is one component)."""

    weights: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    covs: tuple[np.ndarray, ...] = field(compare=False)

    @classmethod
    def gaussian(cls, mean: np.ndarray, cov: np.ndarray) -> GaussianMixture:
        return cls((1.0,), (tuple(mean),), (cov,))

    @property
    def dim(self) -> int:
        return len(self.means[0])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.choice(len(self.weights), size=n, p=np.asarray(self.weights))
        out = np.empty((n, self.dim))
        for k, (mean, cov) in enumerate(zip(self.means, self.covs)):
            idx = np.flatnonzero(comp == k)
            out[idx] = rng.standard_normal((len(idx), self.dim)) @ np.linalg.cholesky(cov).T + np.asarray(mean)
        return out

    def logpdf(self, z: np.ndarray) -> np.ndarray:
        parts = [math.log(w) + multivariate_normal(np.asarray(m), c).logpdf(z)
                 for w, m, c in zip(self.weights, self.means, self.covs)]
        return logsumexp(np.stack(parts, axis=0).reshape(len(parts), -1), axis=0)


@dataclass(frozen=True)
class DensityJSDTask:
    """P and Q with explicit densities; the truth is the fixed-seed Monte Carlo oracle."""

    name: str
    p: GaussianMixture
    q: GaussianMixture
    mc_samples: int = 200_000
    mc_seed: int = 0

    @property
    def dim(self) -> int:
        return self.p.dim

    def sample_p(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.p.sample(n, rng)

    def sample_q(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.q.sample(n, rng)

    @cached_property
    def oracle(self) -> tuple[float, float]:
        """(JSD, its Monte Carlo standard error)."""
        from mllmshift.validation.oracle import jsd_monte_carlo

        return jsd_monte_carlo(self.p.sample, self.p.logpdf, self.q.sample, self.q.logpdf, self.mc_samples,
                               np.random.default_rng(self.mc_seed))

    @property
    def true_jsd(self) -> float:
        return self.oracle[0]


@dataclass(frozen=True)
class OrthogonalSubspacesTask:
    """P: N(0, I_k) on coordinates [0, k); Q: N(0, I_k) on [k, 2k); in ℝ^dim; optionally normalised to the sphere.

    The supports intersect only at the origin (a null set), so JSD = ln 2.
    ``sphere=True`` maps each point to its direction (still disjoint supports).
    """

    name: str
    dim: int
    k: int
    sphere: bool = False

    def __post_init__(self) -> None:
        if 2 * self.k > self.dim:
            raise ValueError("two orthogonal k-dimensional subspaces need dim >= 2k")

    @property
    def true_jsd(self) -> float:
        return LN2

    def _sample(self, n: int, rng: np.random.Generator, offset: int) -> np.ndarray:
        z = np.zeros((n, self.dim))
        z[:, offset : offset + self.k] = rng.standard_normal((n, self.k))
        if self.sphere:
            z /= np.linalg.norm(z, axis=1, keepdims=True)
        return z

    def sample_p(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._sample(n, rng, 0)

    def sample_q(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._sample(n, rng, self.k)


def _axis(dim: int, i: int, scale: float) -> np.ndarray:
    v = np.zeros(dim)
    v[i] = scale
    return v


def jsd_tasks() -> dict[str, JSDTask]:
    """The validation suite's JSD tasks, by name."""
    d = 5
    eye = np.eye(d)
    std = GaussianMixture.gaussian(np.zeros(d), eye)

    def mixture(axis: int, sep: float) -> GaussianMixture:
        return GaussianMixture((0.5, 0.5), (tuple(_axis(d, axis, -sep)), tuple(_axis(d, axis, sep))), (eye, eye))

    mix = mixture(0, 2.0)
    # the Gaussian with the mixture's mean (0) and covariance (I + 4 e1 e1ᵀ)
    matched = GaussianMixture.gaussian(np.zeros(d), eye + np.diag(_axis(d, 0, 4.0)))
    tasks: list[JSDTask] = [
        DensityJSDTask("identical-5d", std, std),
        DensityJSDTask("gauss-mean-5d", std, GaussianMixture.gaussian(_axis(d, 0, 1.5), eye)),
        DensityJSDTask("gauss-scale-5d", std, GaussianMixture.gaussian(np.zeros(d), 3.0 * eye)),
        DensityJSDTask("mixtures-5d", mix, mixture(1, 2.0)),
        DensityJSDTask("mixture-vs-matched-gauss-5d", mix, matched),
        OrthogonalSubspacesTask("orthogonal-16in64", 64, 16),
        OrthogonalSubspacesTask("orthogonal-sphere-16in768", 768, 16, sphere=True),
    ]
    return {t.name: t for t in tasks}
