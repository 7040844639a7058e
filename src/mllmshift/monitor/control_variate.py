"""The control-variate bootstrap of the linearised drift and output terms (:mod:`mllmshift.monitor.terms`):
B first-order draws (:mod:`mllmshift.monitor.influence`) corrected by :data:`EXACT_DRAWS` resamples recomputed
exactly (:func:`with_residuals`), and a term of that kind in flight on the run's threads (:class:`Linearised`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

#: resamples recomputed exactly per term and window on the linearised path (see :func:`with_residuals`)
EXACT_DRAWS = 20

#: the exact resamples' Grams and eigenvalues in float32 (:func:`mllmshift.monitor.influence.eigenvalues`: LAPACK's
#: ssyevr, 1.5× faster than float64 at 300–632 rows; the products 2×). They enter only the control-variate
#: regression of the intervals' width, where their rounding (≤ 2e-6 on a JSD at 512-d, 0.4 % of one resample's
#: spread; the output term's ¼ power makes it up to 2 % at w = 1,000) moves a width by ≤ 3e-4 of itself, against
#: the width's own Monte-Carlo error of about 10 % (50 draws, 20 exact). Estimates, slopes, nulls and p-values stay
#: float64. ``tests/monitor/test_monitor_speed.py`` compares both with the naive float64 path.
EXACT_SINGLE = True


class Linearised:
    """A linearised term in flight on :class:`~mllmshift.workers.Tasks`: ``first`` (the future of its value
    and slopes, submitted already), :meth:`start` submits its exact resamples ``start()`` without waiting for
    ``first``, and :meth:`result` waits for both and returns ``finish(first, exact)``. :meth:`done` wraps a
    term computed already (the resampled path), so a window collects every term the same way."""

    def __init__(self, first: Future[Any], start: Callable[[], list[Future[Any]]],
                 finish: Callable[[Any, list[Any]], tuple[float, np.ndarray]]) -> None:
        self.first, self._start, self._finish = first, start, finish
        self.exact: list[Future[Any]] | None = None

    @classmethod
    def done(cls, value: float, draws: np.ndarray) -> Linearised:
        """A term whose value and draws are computed already."""
        first: Future[Any] = Future()
        first.set_result((value, draws))
        return cls(first, lambda: [], lambda parts, _: parts)

    def start(self) -> None:
        if self.exact is None:
            self.exact = self._start()

    def result(self) -> tuple[float, np.ndarray]:
        self.start()
        assert self.exact is not None
        return self._finish(self.first.result(), [f.result() for f in self.exact])


def with_residuals(linear: np.ndarray, exact: Sequence[float]) -> np.ndarray:
    """Bootstrap draws from first-order draws and the first R of them recomputed exactly (the control-variate
    bootstrap): the residual r = exact − linear of the R draws is regressed on the linear value,
    r ≈ α + β(lin − mean) + ε, and draw b ≥ R becomes lin_b + α + β(lin_b − mean) + ε_{b mod R} (ε scaled by
    √(R/(R − 2)), the regression's degrees of freedom); draws b < R are the exact values. All clipped at 0, as
    the estimators clip.

    Near no shift a JSD is nearly *degenerate* in the records' weights (its first derivative is small and the
    second-order term carries much of the resampling spread: alone, the first-order draws give 0.6–0.9 of
    the resampled standard error on the replays). The regression puts back the second-order part's variance
    and its covariance with the first-order part, at the cost of R exact draws instead of B."""
    lin = np.asarray(linear, dtype=np.float64)
    r = len(exact)
    x, res = lin[:r], np.asarray(exact, dtype=np.float64) - lin[:r]
    ok = np.isfinite(res) & np.isfinite(x)
    if ok.sum() < 2:
        return np.maximum(0.0, lin)
    x, res = x[ok], res[ok]
    mean = float(x.mean())
    var = float(((x - mean) ** 2).sum())
    beta = float(((x - mean) * (res - res.mean())).sum() / var) if var > 0 else 0.0
    eps = res - res.mean() - beta * (x - mean)
    if len(eps) > 2:  # the regression used 2 degrees of freedom: rescale the recycled ε to the unbiased variance
        eps = eps * math.sqrt(len(eps) / (len(eps) - 2))
    out = lin + res.mean() + beta * (lin - mean) + np.resize(eps, len(lin))
    head = out[:r]
    head[ok] = x + res  # the exact draws themselves
    return np.maximum(0.0, out)
