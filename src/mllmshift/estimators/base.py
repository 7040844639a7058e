"""The estimator contracts: every registered estimator provides all of it, so no caller probes.

Estimators see plain float arrays (n × d) or :class:`~mllmshift.sources.EmbeddingSource` objects (rows on
disk, read in chunks), never images or strings. Every estimate reads its inputs in row chunks of the
estimator's own ``chunk_size``, so an array and a source with the same rows give the same numbers.

An :class:`MIEstimator` estimates ``I(X; Y)`` in nats:

- construction: ``cls(x_dim, y_dim, *, seed=0, **options)`` for every registered class (estimators without
  fixed dimensions accept None and record them at :meth:`~MIEstimator.fit`); an option the class does not
  take raises :class:`EstimatorOptionError` naming it and the known ones;
- :meth:`~MIEstimator.fit` ``(x, y, *, progress=None)`` trains it once (deterministic for the seed);
- :meth:`~MIEstimator.mi` estimates on any sample of pairs; :meth:`~MIEstimator.mi_many` on several y-samples
  sharing x; :meth:`~MIEstimator.mi_resampled` on B bootstrap replicates whose weights come chunk by chunk
  (:mod:`mllmshift.resampling`), :meth:`~MIEstimator.mi_weighted` on a B × n weight matrix;
  :meth:`~MIEstimator.pointwise` gives per-pair contributions whose mean is :meth:`~MIEstimator.mi`, where
  the estimator has them;
- :meth:`~MIEstimator.ceiling` is the largest value :meth:`~MIEstimator.mi` can return on n pairs;
- :meth:`~MIEstimator.config`, :meth:`~MIEstimator.fit_summary`, :meth:`~MIEstimator.save` and
  :meth:`~MIEstimator.load` make it reproducible and storable.

A fitted estimator is a fixed function of the sample: metrics pass it around and never train it.

A :class:`DivergenceEstimator` (``cls(*, seed=0, **options)``) estimates the Jensen–Shannon divergence
``JSD(P‖Q)`` in nats between the distributions of two samples; a :class:`TwoSampleTest` tests P = Q.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

import numpy as np

from mllmshift.errors import MllmshiftError
from mllmshift.progress import Progress
from mllmshift.resampling import MatrixWeights, ResampleWeights
from mllmshift.sources import EmbeddingSource

ArrayLike = Any
C = TypeVar("C")
Self = TypeVar("Self", bound="MIEstimator")


class EstimatorOptionError(MllmshiftError, TypeError):
    """An option an estimator does not take (raised at construction, naming the known options)."""


class EstimatorOptionValueError(EstimatorOptionError, ValueError):
    """An option value of the right type but out of its range (``hidden_size: 0``, ``max_epochs: -3``)."""


def as_2d_float(a: ArrayLike, name: str) -> np.ndarray:
    """``a`` as a C-contiguous 2-D float array (float32 kept, anything else → float64); an
    :class:`~mllmshift.sources.EmbeddingSource` is passed through unread (it checks its rows as they are read)."""
    if isinstance(a, EmbeddingSource):
        if len(a) == 0:
            raise ValueError(f"{name} has no rows")
        return a  # type: ignore[return-value]
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


@dataclass(frozen=True)
class Bound:
    """The range of a numeric option: ``>= low`` (``> low`` when ``open``); ``inf``: +inf is allowed too (SMILE's
    clip tau = inf is the plain DV bound). An estimator's config class states the bounds of its options in
    ``constraints`` (scikit-learn's ``_parameter_constraints`` in spirit); an option it does not list gets the
    rule of :func:`default_bound`."""

    low: float
    open: bool = False
    inf: bool = False


def default_bound(name: str, kind: type) -> Bound:
    """The bound of an option its class does not constrain: a seed is >= 0, every other integer counts
    something (>= 1), every other float is >= 0."""
    return Bound(0) if name == "seed" or kind is float else Bound(1)


def _checked_value(estimator: str, name: str, hint: Any, value: Any, bound: Bound | None = None) -> Any:
    """``value`` for the option ``name`` declared as ``hint`` (int, float, bool, str, or one of them | None),
    or an :class:`EstimatorOptionError`: a wrong type, a non-finite number (unless ``bound.inf``), a number
    outside ``bound`` (default: :func:`default_bound`)."""
    import math
    import types
    import typing

    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    if value is None and type(None) in args:
        return value
    kinds = [a for a in args if a in (int, float, bool, str)]
    if len(kinds) != 1 or kinds[0] is str and value is None:
        return value  # a union of several kinds (e.g. float | str): the estimator checks it
    kind = kinds[0]
    bad = f"estimator '{estimator}': option '{name}' must be "
    if kind is bool:
        if not isinstance(value, bool):
            raise EstimatorOptionError(bad + f"true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise EstimatorOptionError(bad + f"a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EstimatorOptionError(bad + f"a number, got {value!r}")
    b = bound if bound is not None else default_bound(name, kind)
    if not math.isfinite(value) and not (b.inf and value == math.inf):
        raise EstimatorOptionValueError(bad + f"a finite number, got {value!r}")
    if kind is int and float(value) != int(value):
        raise EstimatorOptionError(bad + f"an integer, got {value!r}")
    if value < b.low or (b.open and value == b.low):
        low = int(b.low) if kind is int else b.low
        raise EstimatorOptionValueError(bad + f"{'>' if b.open else '>='} {low}, got {value!r}")
    return int(value) if kind is int else float(value)


def make_config(config_class: type[C], estimator: str, **values: Any) -> C:
    """``config_class(**values)``, or an :class:`EstimatorOptionError` naming an option it lacks or a value
    of the wrong type or range (the class's ``constraints``, else :func:`default_bound`)."""
    import typing

    known = {f.name for f in fields(config_class)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        shown = sorted(known - {"x_dim", "y_dim", "seed"})
        raise EstimatorOptionError(f"estimator '{estimator}' does not take the options {sorted(unknown)}; "
                                   f"it takes {', '.join(shown)} (and seed)")
    hints = typing.get_type_hints(config_class)
    bounds: dict[str, Bound] = getattr(config_class, "constraints", {})
    return config_class(**{k: _checked_value(estimator, k, hints.get(k), v, bounds.get(k)) for k, v in values.items()})


class MIEstimator(ABC):
    """Estimates the mutual information I(X; Y), in nats, from paired samples (see the module docstring)."""

    #: registry name of the estimator (stable; written into results)
    name: str = "mi-estimator"

    @abstractmethod
    def __init__(self, x_dim: int | None, y_dim: int | None, *, seed: int = 0, **options: Any) -> None:
        """Set up an unfitted estimator for x of ``x_dim`` and y of ``y_dim`` coordinates."""

    @property
    @abstractmethod
    def dims(self) -> tuple[int | None, int | None]:
        """``(x_dim, y_dim)`` it takes; None where it takes any (until fitted)."""

    def check_dims(self, x: np.ndarray, y: np.ndarray) -> None:
        """Raise ``ValueError`` when x or y has another number of coordinates than :attr:`dims`."""
        for label, want, got in (("x", self.dims[0], x.shape[1]), ("y", self.dims[1], y.shape[1])):
            if want is not None and want != got:
                raise ValueError(f"{type(self).__name__} expects {label} of dim {want}, got {got} "
                                 f"(x of dim {self.dims[0]} and y of dim {self.dims[1]})")

    @abstractmethod
    def fit(self: Self, x: ArrayLike, y: ArrayLike, *, progress: Progress | None = None) -> Self:
        """Fit on paired samples ``x`` (n × dx), ``y`` (n × dy); returns self."""

    @abstractmethod
    def mi(self, x: ArrayLike, y: ArrayLike) -> float:
        """The MI estimate on the paired sample ``(x, y)``."""

    def mi_many(self, x: ArrayLike, ys: Sequence[ArrayLike]) -> list[float]:
        """Estimates of I(X; Y_k) for several y-samples sharing ``x`` (default: one :meth:`mi` each)."""
        return [float(self.mi(x, y)) for y in ys]

    def mi_weighted(self, x: ArrayLike, y: ArrayLike, weights: np.ndarray) -> np.ndarray:
        """Estimates on reweighted samples, one per row of ``weights`` (B × n).

        Row b holds the multiplicities of a bootstrap resample divided by n (rows sum to 1): the same as
        :meth:`mi_resampled` with those multiplicities.
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != len(x):
            raise ValueError(f"weights must be (B, {len(x)}), got {w.shape}")
        return self.mi_resampled(x, [y], MatrixWeights(w * len(x)))[0]

    def mi_resampled(self, x: ArrayLike, ys: Sequence[ArrayLike], weights: ResampleWeights) -> np.ndarray:
        """Estimates of I(X; Y_k) on B bootstrap replicates, as a (len(ys) × B) array.

        Replicate b weighs pair i by its multiplicity c_bi (``weights``, read a row range at a time, never
        as a whole B × n matrix by the estimators that override this). Default: :meth:`mi_many` on each
        replicate's resample (row i repeated c_bi times; exact, O(n) memory per replicate); estimators with a
        closed form (CLUB, InfoNCE) override it.
        """
        xa = as_2d_float(x, "x")
        yas = [check_pairs(xa, y)[1] for y in ys]
        if weights.n != len(xa):
            raise ValueError(f"weights are for {weights.n} rows, the sample has {len(xa)}")
        out = np.empty((len(ys), weights.n_resamples))
        for b in range(weights.n_resamples):
            idx = weights.indices(b)
            out[:, b] = self.mi_many(xa[idx], [ya[idx] for ya in yas])
        return out

    def pointwise(self, x: ArrayLike, y: ArrayLike) -> np.ndarray | None:
        """Per-pair contributions c_i with mean(c) = :meth:`mi` (x, y), or None when the estimator has none."""
        return None

    def ceiling(self, n: int) -> float | None:
        """The largest value :meth:`mi` can return on ``n`` pairs, when the estimator has one by construction.

        None (the default) for estimators without such a cap; contrastive bounds return theirs
        (InfoNCE: ln n), so a result at the ceiling can be flagged as saturated.
        """
        return None

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The registry name and every hyper-parameter that, with the seed, reproduce this estimator."""

    def fit_summary(self) -> dict[str, Any]:
        """Scalar facts about the fit (best epoch or step, epochs run, ...) that results record; default none."""
        return {}

    @abstractmethod
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted estimator to ``path`` (atomically)."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | os.PathLike[str]) -> MIEstimator:
        """Read an estimator written by :meth:`save` (a :class:`~mllmshift.errors.DataError` when it cannot)."""


@dataclass(frozen=True)
class JSDTerm:
    """A divergence estimate with what is known of its precision.

    ``resolution`` r: estimates below it cannot be told from 0 (from the estimator's own spread under P = Q),
    so a value below r reads "< r", not as a measured number; ``low``/``high``: an interval for the
    divergence. None where the estimator does not say.
    """

    value: float
    resolution: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def below_resolution(self) -> bool:
        return self.resolution is not None and self.value < self.resolution

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "below_resolution": self.below_resolution}

    @classmethod
    def from_dict(cls, d: Any) -> JSDTerm:
        return cls(float(d["value"]), d.get("resolution"), d.get("low"), d.get("high"))


class DivergenceEstimator(ABC):
    """Estimates JSD(P‖Q), in nats, from a sample ``a`` of P and a sample ``b`` of Q.

    Every registered class is built as ``cls(*, seed=0, **options)``; deterministic ones ignore the seed.
    """

    name: str = "divergence-estimator"

    @abstractmethod
    def divergence(self, a: ArrayLike, b: ArrayLike) -> float:
        """The divergence estimate; 0 for identical distributions, at most ln 2 for JSD."""

    def term(self, a: ArrayLike, b: ArrayLike) -> JSDTerm:
        """:meth:`divergence` with its resolution and interval where the estimator knows them (default: none)."""
        return JSDTerm(float(self.divergence(a, b)))

    def __call__(self, a: ArrayLike, b: ArrayLike) -> float:
        return self.divergence(a, b)

    def label(self) -> str:
        """The name of the estimator that made the latest estimate (``auto`` names its choice)."""
        return self.name

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


def members_of(estimators: MIEstimator | Sequence[MIEstimator]) -> tuple[MIEstimator, ...]:
    """A fitted estimator, or an ensemble of them, as a non-empty tuple."""
    members = (estimators,) if isinstance(estimators, MIEstimator) else tuple(estimators)
    if not members:
        raise ValueError("an ensemble needs at least one fitted estimator")
    return members


# --------------------------------------------------------------- two-sample tests
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
    """Tests H0: P = Q from a sample ``a`` of P and a sample ``b`` of Q (built as ``cls(*, seed=0, **options)``).

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
