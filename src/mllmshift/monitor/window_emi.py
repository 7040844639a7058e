r"""A window's EMI and its bootstrap draws from one estimator pass per ensemble member.

:func:`mllmshift.metrics.emi` and :func:`mllmshift.metrics.bootstrap_emi` each run every member over the
window's pairs: the conditional heads (a cross-fitted CLUB: every fold's network on the window, and the rows'
fold lookup) are computed twice. Here each member's
:meth:`~mllmshift.estimators.base.MIEstimator.mi_resampled` runs once, on the bootstrap's replicates for that
member with one more replicate in front that weighs every pair 1 (:class:`WithUnitWeights`). For CLUB, plain
or cross-fitted (the default estimator), ``mi_many`` *is* that replicate (the same running sums, float64), so

.. math:: \mathrm{EMI} = \frac1K\sum_k \hat I_k(X;\hat Y) - \frac1K\sum_k \hat I_k(X;Y)

comes from column 0 and the draws from the other columns, with ``bootstrap_emi``'s replicates
(:func:`mllmshift.metrics._weights`, the same seed) and its member assignment (replicate r → member r mod K).
Equal to the two calls up to rounding (the unit replicate is summed inside a matrix product instead of a
vector one). Other estimators' weighted paths differ from their ``mi_many`` by float32 rounding (InfoNCE:
3e-7 relative), so for them the estimate is ``mi_many``'s, in a call of its own, as before.
``tests/monitor/test_window_emi.py`` checks estimate and draws against the two calls to 1e-9 relative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mllmshift.estimators.base import MIEstimator, members_of
from mllmshift.estimators.mi.club import CLUB
from mllmshift.estimators.mi.crossfit import CrossFitMI
from mllmshift.metrics import _weights
from mllmshift.resampling import ResampleWeights


class WithUnitWeights(ResampleWeights):
    """``base``'s replicates with replicate 0 weighing every row 1 put in front (B + 1 replicates)."""

    def __init__(self, base: ResampleWeights) -> None:
        super().__init__(base.n, base.n_resamples + 1)
        self.base, self.scheme = base, base.scheme

    def block(self, start: int, stop: int, replicates: np.ndarray | None = None) -> np.ndarray:
        reps = np.arange(self.n_resamples) if replicates is None else np.asarray(replicates, dtype=np.int64)
        out = np.ones((len(reps), max(0, stop - start)))
        inner = reps > 0
        if inner.any():
            out[inner] = self.base.block(start, stop, reps[inner] - 1)
        return out


def unit_replicate_exact(est: MIEstimator) -> bool:
    """Whether ``est.mi_many`` is its ``mi_resampled`` with every weight 1 (CLUB, plain or cross-fitted)."""
    return isinstance(est, CLUB) or (isinstance(est, CrossFitMI) and isinstance(est.members[0], CLUB))


def emi_and_draws(x: np.ndarray, y_hat: np.ndarray, y: np.ndarray, estimators: Sequence[MIEstimator],
                  n_resamples: int, seed: int, scheme: str) -> tuple[float, np.ndarray]:
    """(EMI of the pairs, its ``n_resamples`` bootstrap draws): ``metrics.emi(...).value`` and the draws of
    ``metrics.bootstrap_emi(..., n_resamples, seed, scheme=scheme)`` from one pass per member."""
    members = members_of(estimators)
    weights = _weights(scheme, len(x), n_resamples, np.random.default_rng(seed), seed, 0)
    draws = np.empty(n_resamples)
    resp, ref = [], []
    for k, est in enumerate(members):
        reps = np.arange(k, n_resamples, len(members))
        if unit_replicate_exact(est):
            both = est.mi_resampled(x, [y_hat, y], WithUnitWeights(weights.select(reps)))
            resp.append(float(both[0, 0]))
            ref.append(float(both[1, 0]))
            both = both[:, 1:]
        else:
            r, f = est.mi_many(x, [y_hat, y])
            resp.append(float(r))
            ref.append(float(f))
            both = est.mi_resampled(x, [y_hat, y], weights.select(reps)) if len(reps) else np.zeros((2, 0))
        draws[reps] = both[0] - both[1]
    return float(np.mean(resp)) - float(np.mean(ref)), draws


def emi_value(x: np.ndarray, y_hat: np.ndarray, y: np.ndarray, estimators: Sequence[MIEstimator],
              scheme: str = "auto") -> float:
    """``metrics.emi(...).value`` from one pass per member (:func:`emi_and_draws` with no replicates; a
    cross-fitted CLUB's ``mi_many`` runs every fold's network once per y, this once in all)."""
    return emi_and_draws(x, y_hat, y, estimators, 0, 0, scheme)[0]
