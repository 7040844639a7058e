r"""KSG: the k-nearest-neighbour MI estimator of Kraskov, Stögbauer & Grassberger (2004), algorithm 1.

For each pair :math:`z_i=(x_i, y_i)` let :math:`\varepsilon_i` be the max-norm
distance to its k-th nearest neighbour in the joint space, and
:math:`n_x(i)`, :math:`n_y(i)` the numbers of other points strictly closer than
:math:`\varepsilon_i` in the x- and y-spaces (max-norm). Then

.. math::

    \hat I_{\mathrm{KSG}} = \psi(k) + \psi(n) - \frac1n\sum_i\big[\psi(n_x(i)+1) + \psi(n_y(i)+1)\big].

Each coordinate is first scaled to unit variance (``standardize=True``), as
scikit-learn's ``mutual_info_regression`` does (max-norm neighbourhoods are not
scale invariant). Consistent and nearly unbiased in low dimension; in high
dimension (tens of coordinates and more) it is biased low and slow, so use it
for low-dimensional checks. Non-parametric: ``fit`` only records the
dimensions, ``mi`` computes the estimate on the sample it is given. Ties
(duplicated points) break the estimator's assumptions; ``jitter`` adds
seeded noise of that relative size to break them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from mllmshift.estimators._checkpoint import load_stateless, save_stateless
from mllmshift.estimators.base import MIEstimator, check_pairs, make_config
from mllmshift.progress import Progress


@dataclass(frozen=True)
class KSGConfig:
    x_dim: int | None = None
    y_dim: int | None = None
    k: int = 3
    standardize: bool = True
    jitter: float = 0.0
    seed: int = 0


def _count_within(points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each point, the number of *other* points at max-norm distance < its radius."""
    tree = cKDTree(points)
    counts = tree.query_ball_point(points, radii, p=np.inf, return_length=True)
    return np.asarray(counts) - 1


def ksg(x: np.ndarray, y: np.ndarray, k: int = 3) -> float:
    """KSG algorithm 1 on already prepared arrays (see the module docstring)."""
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"KSG needs 1 <= k < n, got k={k} and n={n}")
    joint = np.hstack([x, y])
    dist, _ = cKDTree(joint).query(joint, k=k + 1, p=np.inf)
    # strictly closer than the k-th neighbour: shrink the radius by one ulp
    eps = np.nextafter(dist[:, -1], 0)
    nx = _count_within(x, eps)
    ny = _count_within(y, eps)
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1)) - np.mean(digamma(ny + 1)))


class KSG(MIEstimator):
    """Kraskov–Stögbauer–Grassberger k-NN estimator (algorithm 1), for low-dimensional variables.

    Options (:class:`KSGConfig`): ``k`` (3), ``standardize`` (True), ``jitter`` (0).
    """

    name = "ksg"

    def __init__(self, x_dim: int | None = None, y_dim: int | None = None, *, seed: int = 0, **options: Any) -> None:
        self.cfg = make_config(KSGConfig, self.name, x_dim=x_dim, y_dim=y_dim, seed=int(seed), **options)
        if self.cfg.k < 1:
            raise ValueError("k must be at least 1")
        if self.cfg.jitter < 0:
            raise ValueError("jitter must be non-negative")

    @property
    def dims(self) -> tuple[int | None, int | None]:
        return self.cfg.x_dim, self.cfg.y_dim

    def fit(self, x: Any, y: Any, *, progress: Progress | None = None) -> KSG:
        """Nothing to learn; checks and records the dimensions."""
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        self.cfg = replace(self.cfg, x_dim=xa.shape[1], y_dim=ya.shape[1])
        return self

    def _prepare(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a = a.astype(np.float64)
        if self.cfg.standardize:
            std = a.std(axis=0)
            a = a / np.where(std > 0, std, 1.0)
        if self.cfg.jitter > 0:
            a = a + self.cfg.jitter * rng.standard_normal(a.shape)
        return a

    def mi(self, x: Any, y: Any) -> float:
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        rng = np.random.default_rng(self.cfg.seed)
        return ksg(self._prepare(xa, rng), self._prepare(ya, rng), self.cfg.k)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def save(self, path: str | os.PathLike[str]) -> None:
        save_stateless(self.config(), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KSG:
        return cls(**load_stateless(cls.name, path))
