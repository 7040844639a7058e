r"""Closed-form Gaussian (CCA) mutual information.

For jointly Gaussian (X, Y) with covariance blocks :math:`\Sigma_{XX}, \Sigma_{YY}, \Sigma`,

.. math::

    I(X;Y) = \tfrac12\big(\log\det\Sigma_{XX} + \log\det\Sigma_{YY} - \log\det\Sigma\big)
           = -\tfrac12\sum_k \log(1-\rho_k^2),

with :math:`\rho_k` the canonical correlations. The estimator plugs in the sample
covariance of the standardised data (the correlation matrix; MI is invariant to
per-coordinate affine maps), shrunk towards the identity,
:math:`\hat R = (1-\lambda) R + \lambda I`. ``shrinkage="ledoit-wolf"`` (the
default) picks λ by the Ledoit–Wolf (2004) formula, which goes to 0 as
n/d grows and keeps :math:`\hat R` invertible when n ≤ d (768-d embeddings
from a few hundred pairs); a number fixes λ. The shrunk matrix is positive
definite, so the estimate is ≥ 0 (Fischer's inequality).

Exact (up to sampling error) for Gaussian data; otherwise it measures only the
linear (second-order) dependence. ``copula=True`` first maps every coordinate
to normal scores :math:`\Phi^{-1}(\mathrm{rank}/(n+1))`: the *Gaussian-copula*
estimate, invariant to any strictly increasing transform of each coordinate
(e.g. asinh, half-cube, the normal CDF). Non-parametric: ``fit`` records the
dimensions only and ``mi`` estimates on the sample it is given.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from mllmshift.estimators._checkpoint import load_stateless, save_stateless
from mllmshift.estimators.base import MIEstimator, check_pairs, make_config
from mllmshift.progress import Progress


@dataclass(frozen=True)
class GaussianConfig:
    x_dim: int | None = None
    y_dim: int | None = None
    shrinkage: float | str = "ledoit-wolf"
    copula: bool = False
    seed: int = 0


def ledoit_wolf_shrinkage(z: np.ndarray) -> float:
    r"""Ledoit–Wolf (2004) shrinkage λ of the sample covariance of ``z`` (n × p, any centring) to μ·I.

    With centred rows :math:`z_i`, :math:`S = \frac1n\sum z_i z_i^\top`, :math:`\mu = \operatorname{tr}S/p`:
    :math:`\delta = \|S-\mu I\|_F^2/p`,
    :math:`\beta = \min\big(\delta, \frac{1}{n^2 p}\sum_i \|z_i z_i^\top - S\|_F^2\big)`, λ = β/δ.
    Only tr S and ‖S‖²_F = ‖ZZᵀ‖²_F / n² enter, so the smaller of the p × p and n × n products is formed.
    """
    z = z - z.mean(axis=0)
    n, p = z.shape
    tr = float(np.sum(z * z)) / n
    gram = z @ z.T if n < p else z.T @ z
    ss = float(np.sum(gram * gram)) / (n * n)  # ‖S‖²_F
    mu = tr / p
    delta = (ss - 2.0 * mu * tr + p * mu * mu) / p
    # Σ_i ‖z_i z_iᵀ − S‖² = Σ_i ‖z_i‖⁴ − n‖S‖²
    beta = (np.sum(np.sum(z * z, axis=1) ** 2) / n - ss) / (n * p)
    beta = min(beta, delta)
    return 0.0 if delta <= 0 else float(beta / delta)


def normal_scores(a: np.ndarray) -> np.ndarray:
    """Each column mapped to Φ⁻¹(rank / (n + 1)) (average ranks for ties)."""
    ranks = rankdata(a, axis=0)
    return ndtri(ranks / (len(a) + 1.0))


def gaussian_mi(x: np.ndarray, y: np.ndarray, shrinkage: float | str = "ledoit-wolf") -> float:
    """½(log det R_XX + log det R_YY − log det R) of the (shrunk) correlation matrix R of [x, y]."""
    z = np.hstack([x, y]).astype(np.float64)
    z = z - z.mean(axis=0)
    std = z.std(axis=0)
    z = z / np.where(std > 0, std, 1.0)
    if isinstance(shrinkage, str):
        if shrinkage != "ledoit-wolf":
            raise ValueError(f"shrinkage must be a number in [0, 1] or 'ledoit-wolf', got {shrinkage!r}")
        lam = ledoit_wolf_shrinkage(z)
    else:
        lam = float(shrinkage)
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {lam}")
    dx = x.shape[1]
    n, p = z.shape
    if lam > 0.0 and n < p:
        return max(_mi_from_grams(z[:, :dx], z[:, dx:], lam), 0.0)
    r = (1.0 - lam) * (z.T @ z / n) + lam * np.eye(p)
    value = 0.5 * (_logdet(r[:dx, :dx]) + _logdet(r[dx:, dx:]) - _logdet(r))
    return max(value, 0.0)


def _logdet(m: np.ndarray) -> float:
    sign, val = np.linalg.slogdet(m)
    if sign <= 0:
        raise ValueError("the covariance is singular (n ≤ d?); use shrinkage='ledoit-wolf' or a positive λ")
    return float(val)


def _mi_from_grams(zx: np.ndarray, zy: np.ndarray, lam: float) -> float:
    r"""The same value from n × n Gram matrices when there are fewer rows than columns (Sylvester's identity):
    log det((1−λ) ZᵀZ/n + λI_p) = p log λ + log det(I_n + c ZZᵀ), c = (1−λ)/(λn), and ZZᵀ of [Z_x, Z_y] is
    Z_xZ_xᵀ + Z_yZ_yᵀ, so the p log λ terms cancel: I = ½(L_x + L_y − L_xy). O(n²p) instead of O(p³): with
    80 pairs of 1,024-d embeddings a bootstrap draw took 3 slogdets of up to 2,048 × 2,048."""
    c = (1.0 - lam) / (lam * len(zx))
    gx, gy = zx @ zx.T, zy @ zy.T
    eye = np.eye(len(zx))
    return 0.5 * (_logdet(eye + c * gx) + _logdet(eye + c * gy) - _logdet(eye + c * (gx + gy)))


class GaussianMI(MIEstimator):
    """Closed-form Gaussian / CCA MI with Ledoit–Wolf shrinkage (optionally on normal scores).

    Options (:class:`GaussianConfig`): ``shrinkage`` ("ledoit-wolf" or λ in [0, 1]), ``copula`` (False).
    """

    name = "gaussian"

    def __init__(self, x_dim: int | None = None, y_dim: int | None = None, *, seed: int = 0, **options: Any) -> None:
        self.cfg = make_config(GaussianConfig, self.name, x_dim=x_dim, y_dim=y_dim, seed=int(seed), **options)

    @property
    def dims(self) -> tuple[int | None, int | None]:
        return self.cfg.x_dim, self.cfg.y_dim

    def fit(self, x: Any, y: Any, *, progress: Progress | None = None) -> GaussianMI:
        """Nothing to learn; checks and records the dimensions."""
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        self.cfg = replace(self.cfg, x_dim=xa.shape[1], y_dim=ya.shape[1])
        return self

    def mi(self, x: Any, y: Any) -> float:
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        if len(xa) < 3:
            raise ValueError("a covariance-based MI needs at least 3 pairs")
        if self.cfg.copula:
            xa, ya = normal_scores(xa), normal_scores(ya)
        return gaussian_mi(xa, ya, self.cfg.shrinkage)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def save(self, path: str | os.PathLike[str]) -> None:
        save_stateless(self.config(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GaussianMI:
        return cls(**load_stateless(cls.name, path))
