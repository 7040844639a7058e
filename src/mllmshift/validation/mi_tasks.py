r"""Sampling tasks with known mutual information.

Every task is a frozen dataclass with ``x_dim``, ``y_dim``, ``true_mi`` (nats)
and ``sample(n, rng) -> (x, y)``. Closed forms:

- **Gaussian** (X, Y) with joint covariance Σ:
  :math:`I = \tfrac12(\log\det\Sigma_{XX} + \log\det\Sigma_{YY} - \log\det\Sigma)`.
- **Student-t** with ν degrees of freedom and dispersion Σ (Arellano-Valle et al., 2013; as in bmi):
  :math:`I = I_{\mathrm{Gauss}}(\Sigma) + G(\nu) - G(\nu+d_x) - G(\nu+d_y) + G(\nu+d_x+d_y)`,
  :math:`G(z) = \log\Gamma(z/2) - \tfrac z2\psi(z/2)`. Heavier tails add dependence: I > 0 even for Σ = I.
- **MI-preserving transforms**: a smooth injective map applied to X and to Y
  separately leaves I(X; Y) unchanged, so a transformed task keeps its base's
  truth (asinh, the half-cube :math:`\operatorname{sign}(t)|t|^{3/2}`, the normal CDF Φ,
  each applied to every coordinate).
- **Embedding-like** (``SphereEmbeddingTask``): a rank-r Gaussian signal
  (standard deviation ``signal_scale``, per-coordinate correlation ρ between X
  and Y) inside D−1−r dimensions of unit-variance noise, rotated by a fixed
  random orthogonal matrix (so the covariance is anisotropic with r dominant
  directions, as in real embeddings), scaled so that E‖u‖² = 1 and mapped onto the unit
  sphere :math:`S^{D-1}\subset\mathbb R^D` by the inverse stereographic projection
  :math:`u \mapsto (2u, \|u\|^2-1)/(\|u\|^2+1)`, which is injective and smooth:
  :math:`I = -\tfrac r2\log(1-\rho^2)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np
from scipy.special import digamma, gammaln, ndtr


class MITask(Protocol):
    name: str
    x_dim: int
    y_dim: int

    @property
    def true_mi(self) -> float: ...

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


def gaussian_mi_from_cov(cov: np.ndarray, x_dim: int) -> float:
    """½(log det Σ_XX + log det Σ_YY − log det Σ)."""
    ld = lambda m: float(np.linalg.slogdet(m)[1])  # noqa: E731
    return 0.5 * (ld(cov[:x_dim, :x_dim]) + ld(cov[x_dim:, x_dim:]) - ld(cov))


def correlated_pairs_mi(rho: float, k: int) -> float:
    """I(X; Y) of k independent coordinate pairs, each Gaussian with correlation ρ: −k/2 · log(1 − ρ²) (nats)."""
    return -0.5 * k * math.log(1.0 - rho * rho)


def dense_cov(x_dim: int, y_dim: int, off_diag: float) -> np.ndarray:
    """Unit variances, every pair of distinct coordinates (within and across X, Y) correlated ``off_diag``."""
    d = x_dim + y_dim
    return (1.0 - off_diag) * np.eye(d) + off_diag * np.ones((d, d))


def sparse_cov(x_dim: int, y_dim: int, n_interacting: int, correlation: float) -> np.ndarray:
    """Identity except corr(X_i, Y_i) = ``correlation`` for the first ``n_interacting`` i."""
    cov = np.eye(x_dim + y_dim)
    for i in range(n_interacting):
        cov[i, x_dim + i] = cov[x_dim + i, i] = correlation
    return cov


@dataclass(frozen=True)
class GaussianTask:
    """(X, Y) jointly Gaussian with covariance ``cov`` (X the first ``x_dim`` coordinates)."""

    name: str
    x_dim: int
    y_dim: int
    cov: np.ndarray = field(repr=False, compare=False)

    @property
    def true_mi(self) -> float:
        return gaussian_mi_from_cov(self.cov, self.x_dim)

    @cached_property
    def _chol(self) -> np.ndarray:
        return np.linalg.cholesky(self.cov)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        z = rng.standard_normal((n, self.x_dim + self.y_dim)) @ self._chol.T
        return z[:, : self.x_dim], z[:, self.x_dim :]


def _student_g(z: float) -> float:
    return float(gammaln(z / 2.0) - z / 2.0 * digamma(z / 2.0))


def student_t_correction(dof: float, x_dim: int, y_dim: int) -> float:
    """I_t − I_Gauss for a multivariate t with ``dof`` degrees of freedom (≥ 0)."""
    g = _student_g
    return g(dof) - g(dof + x_dim) - g(dof + y_dim) + g(dof + x_dim + y_dim)


@dataclass(frozen=True)
class StudentTTask:
    """Multivariate Student-t: Z/√(W/ν) with Z ~ N(0, dispersion), W ~ χ²_ν."""

    name: str
    x_dim: int
    y_dim: int
    dispersion: np.ndarray = field(repr=False, compare=False)
    dof: float = 5.0

    @property
    def true_mi(self) -> float:
        return gaussian_mi_from_cov(self.dispersion, self.x_dim) + student_t_correction(self.dof, self.x_dim,
                                                                                          self.y_dim)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        chol = np.linalg.cholesky(self.dispersion)
        z = rng.standard_normal((n, self.x_dim + self.y_dim)) @ chol.T
        w = rng.chisquare(self.dof, size=(n, 1)) / self.dof
        t = z / np.sqrt(w)
        return t[:, : self.x_dim], t[:, self.x_dim :]


def half_cube(t: np.ndarray) -> np.ndarray:
    """sign(t)·|t|^{3/2}: smooth, strictly increasing."""
    return np.sign(t) * np.abs(t) ** 1.5


TRANSFORMS = {"asinh": np.arcsinh, "half-cube": half_cube, "normal-cdf": ndtr}


@dataclass(frozen=True)
class TransformedTask:
    """``base`` with the strictly increasing ``transform`` applied to every coordinate of X and Y."""

    base: GaussianTask | StudentTTask
    transform: str

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; choose one of {sorted(TRANSFORMS)}")

    @property
    def name(self) -> str:
        return f"{self.transform}({self.base.name})"

    @property
    def x_dim(self) -> int:
        return self.base.x_dim

    @property
    def y_dim(self) -> int:
        return self.base.y_dim

    @property
    def true_mi(self) -> float:
        return self.base.true_mi

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.base.sample(n, rng)
        f = TRANSFORMS[self.transform]
        return f(x), f(y)


def inverse_stereographic(u: np.ndarray) -> np.ndarray:
    """u ∈ ℝ^d ↦ (2u, ‖u‖² − 1) / (‖u‖² + 1) on the unit sphere of ℝ^{d+1} (injective, smooth)."""
    sq = np.sum(u * u, axis=1, keepdims=True)
    return np.hstack([2.0 * u, sq - 1.0]) / (sq + 1.0)


@dataclass(frozen=True)
class SphereEmbeddingTask:
    """A rank-``rank`` correlated signal in ``dim``-dimensional unit vectors (see the module docstring)."""

    name: str = "sphere-rank16-768"
    dim: int = 768
    rank: int = 16
    correlation: float = 0.5
    signal_scale: float = 4.0
    rotation_seed: int = 0

    @property
    def x_dim(self) -> int:
        return self.dim

    @property
    def y_dim(self) -> int:
        return self.dim

    @property
    def true_mi(self) -> float:
        return correlated_pairs_mi(self.correlation, self.rank)

    @cached_property
    def _rotations(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.rotation_seed)
        d = self.dim - 1
        qs = []
        for _ in range(2):
            q, r = np.linalg.qr(rng.standard_normal((d, d)))
            qs.append(q * np.sign(np.diag(r)))
        return qs[0], qs[1]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        d, r, rho = self.dim - 1, self.rank, self.correlation
        gx = rng.standard_normal((n, d))
        gy = rng.standard_normal((n, d))
        gy[:, :r] = rho * gx[:, :r] + math.sqrt(1.0 - rho**2) * gy[:, :r]
        gx[:, :r] *= self.signal_scale
        gy[:, :r] *= self.signal_scale
        qx, qy = self._rotations
        scale = 1.0 / math.sqrt(d - r + r * self.signal_scale**2)
        return inverse_stereographic(gx @ qx.T * scale), inverse_stereographic(gy @ qy.T * scale)


def mi_tasks() -> dict[str, MITask]:
    """The validation suite's MI tasks, by name."""
    tasks: list[MITask] = [
        GaussianTask("normal-1x1", 1, 1, np.array([[1.0, 0.75], [0.75, 1.0]])),
        GaussianTask("normal-dense-5x5", 5, 5, dense_cov(5, 5, 0.5)),
        GaussianTask("normal-sparse-5x5", 5, 5, sparse_cov(5, 5, 2, 0.8)),
        GaussianTask("normal-dense-25x25", 25, 25, dense_cov(25, 25, 0.5)),
        GaussianTask("normal-sparse-25x25", 25, 25, sparse_cov(25, 25, 2, 0.8)),
        StudentTTask("student-t-1x1", 1, 1, np.array([[1.0, 0.75], [0.75, 1.0]]), dof=5.0),
        StudentTTask("student-t-dense-5x5", 5, 5, dense_cov(5, 5, 0.5), dof=5.0),
    ]
    by_name = {t.name: t for t in tasks}
    tasks += [
        TransformedTask(by_name["student-t-dense-5x5"], "asinh"),  # type: ignore[arg-type]
        TransformedTask(by_name["normal-dense-5x5"], "half-cube"),  # type: ignore[arg-type]
        TransformedTask(by_name["normal-dense-5x5"], "normal-cdf"),  # type: ignore[arg-type]
        SphereEmbeddingTask(),
    ]
    return {t.name: t for t in tasks}
