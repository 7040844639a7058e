"""Small typed interfaces for mutual-information and divergence estimators.

Estimators see plain float arrays (n × d), never images or strings.

- An :class:`MIEstimator` is fitted once (``fit(x, y)``), then estimates
  ``I(X; Y)`` in nats on any sample of pairs (``mi(x, y)``). A fitted
  estimator is a fixed function of the sample: metrics pass it around and
  never train it.
- A :class:`DivergenceEstimator` estimates the Jensen–Shannon divergence
  ``JSD(P‖Q)`` in nats between the distributions of two samples.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ArrayLike = Any


def as_2d_float(a: ArrayLike, name: str) -> np.ndarray:
    """``a`` as a C-contiguous 2-D float array (float32 kept, anything else → float64)."""
    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n × d), got shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def check_pairs(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = as_2d_float(x, "x"), as_2d_float(y, "y")
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, got {xa.shape[0]} and {ya.shape[0]}")
    return xa, ya


class MIEstimator(ABC):
    """Estimates the mutual information I(X; Y), in nats, from paired samples."""

    #: registry name of the estimator (stable; written into results)
    name: str = "mi-estimator"

    @abstractmethod
    def fit(self, x: ArrayLike, y: ArrayLike) -> MIEstimator:
        """Fit on paired samples ``x`` (n × dx), ``y`` (n × dy); returns self."""

    @abstractmethod
    def mi(self, x: ArrayLike, y: ArrayLike) -> float:
        """The MI estimate on the paired sample ``(x, y)``."""

    def config(self) -> dict[str, Any]:
        """The hyper-parameters that, with the seed, reproduce this estimator."""
        return {"name": self.name}

    def ceiling(self, n: int) -> float | None:
        """The largest value :meth:`mi` can return on ``n`` pairs, when the estimator has one by construction.

        None (the default) for estimators without such a cap; contrastive bounds return theirs
        (InfoNCE: ln n), so a result at the ceiling can be flagged as saturated.
        """
        return None

    def save(self, path: str | os.PathLike[str]) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MIEstimator:
        raise NotImplementedError(f"{cls.__name__} cannot be loaded")


class DivergenceEstimator(ABC):
    """Estimates JSD(P‖Q), in nats, from a sample ``a`` of P and a sample ``b`` of Q."""

    name: str = "divergence-estimator"

    @abstractmethod
    def divergence(self, a: ArrayLike, b: ArrayLike) -> float:
        """The divergence estimate; 0 for identical distributions, at most ln 2 for JSD."""

    def __call__(self, a: ArrayLike, b: ArrayLike) -> float:
        return self.divergence(a, b)

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


# --------------------------------------------------------------- two-sample tests
# (added by the estimator-zoo helper; additive only)
@dataclass(frozen=True)
class TwoSampleResult:
    """A two-sample test's outcome: the statistic, its permutation p-value, and how it was made."""

    statistic: float
    p_value: float
    n_permutations: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TwoSampleTest(ABC):
    """Tests H0: P = Q from a sample ``a`` of P and a sample ``b`` of Q.

    Unlike a :class:`DivergenceEstimator`, the statistic is not a JSD (it has
    no ln 2 ceiling and its scale depends on the kernel), so it is not
    usable as a term of the EMID bound; the p-value says whether the two
    samples differ at all.
    """

    name: str = "two-sample-test"

    @abstractmethod
    def test(self, a: ArrayLike, b: ArrayLike) -> TwoSampleResult:
        """The statistic and its p-value."""

    def config(self) -> dict[str, Any]:
        return {"name": self.name}
