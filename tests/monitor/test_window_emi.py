"""A window's EMI and bootstrap draws from one pass per member (monitor/window_emi.py) against the two calls it
replaces, ``metrics.emi`` and ``metrics.bootstrap_emi``: the estimate and every draw to 1e-9 relative, for
ensembles of the default CLUB (plain and cross-fitted) and of InfoNCE, with multinomial and Poisson replicates."""

from __future__ import annotations

import numpy as np
import pytest

from mllmshift.estimators.mi.club import CLUB
from mllmshift.estimators.mi.crossfit import CrossFitMI
from mllmshift.estimators.mi.infonce import InfoNCE
from mllmshift.metrics import _emi_draws, _weights, bootstrap_emi, emi
from mllmshift.monitor.window_emi import WithUnitWeights, emi_and_draws, emi_value
from mllmshift.resampling import MatrixWeights


def _pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y_hat = (x[:, :4] + 0.5 * rng.normal(size=(n, 4))).astype(np.float32)
    y = (x[:, :4] * 0.3 + rng.normal(size=(n, 4))).astype(np.float32)
    return x, y_hat, y


def _members(kind: str) -> list:
    x, y_hat, y = _pairs(120, 0)
    xs, ys = np.vstack([x, x]), np.vstack([y_hat, y])
    if kind == "club":
        return [CLUB(6, 4, seed=s, hidden_size=8, max_epochs=3).fit(xs, ys) for s in range(3)]
    if kind == "crossfit-club":
        return [CrossFitMI(6, 4, base="club", folds=2, seed=s, hidden_size=8, max_epochs=3).fit(xs, ys)
                for s in range(2)]
    return [InfoNCE(6, 4, seed=s, max_steps=5).fit(xs, ys) for s in range(2)]


@pytest.mark.parametrize("kind", ["club", "crossfit-club", "infonce"])
@pytest.mark.parametrize("scheme", ["multinomial", "poisson"])
def test_one_pass_gives_emi_and_bootstrap_emi(kind, scheme):
    members = _members(kind)
    x, y_hat, y = _pairs(40, 1)
    value, draws = emi_and_draws(x, y_hat, y, members, 31, seed=7, scheme=scheme)
    assert value == pytest.approx(emi(x, y_hat, y, members).value, rel=1e-9, abs=1e-12)
    want = _emi_draws(x, y_hat, y, members, _weights(scheme, 40, 31, np.random.default_rng(7), 7, 0))
    np.testing.assert_allclose(draws, want, rtol=1e-9, atol=1e-12)
    assert emi_value(x, y_hat, y, members, scheme) == pytest.approx(value, rel=1e-12, abs=1e-15)
    ci = bootstrap_emi(x, y_hat, y, members, n_resamples=31, seed=7, scheme=scheme)
    assert float(draws.std(ddof=1)) == pytest.approx(ci.std, rel=1e-9)


def test_unit_replicate_comes_first_and_the_others_follow():
    base = MatrixWeights(np.arange(12.0).reshape(3, 4))
    w = WithUnitWeights(base)
    assert (w.n, w.n_resamples) == (4, 4)
    np.testing.assert_array_equal(w.block(1, 3), [[1, 1], [1, 2], [5, 6], [9, 10]])
    np.testing.assert_array_equal(w.block(0, 4, np.array([2, 0])), [[4, 5, 6, 7], [1, 1, 1, 1]])
