"""The estimator contract (estimators/base.py): every registered class is built, fitted, evaluated and stored the
same way, so no caller has to probe for a method."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.estimators import (
    EstimatorOptionError,
    MIEstimator,
    divergence_estimators,
    mi_estimators,
    two_sample_tests,
)
from mllmshift.estimators.fitting import member_seeds
from mllmshift.metrics import resample_weights
from mllmshift.provenance import derive_seed

FAST = {"club": {"hidden_size": 16, "max_epochs": 3}, "club-sampled": {"hidden_size": 16, "max_epochs": 3},
        "infonce": {"hidden_size": 16, "max_steps": 30}, "nwj": {"hidden_size": 16, "max_steps": 30},
        "mine": {"hidden_size": 16, "max_steps": 30}, "smile": {"hidden_size": 16, "max_steps": 30},
        "ksg": {}, "gaussian": {}, "infonce-pooled": {"hidden_size": 16, "max_steps": 30},
        "crossfit": {"folds": 3, "hidden_size": 16, "max_steps": 30}}
#: estimators whose weighted estimate is the resample in which the copies of a pair are never its own negatives
#: (VariationalMI.mi_weighted; checked against explicit loops in tests/estimators/test_variational.py), so it
#: differs from re-estimating on the resampled rows, where copies are each other's negatives
COPIES_NOT_NEGATIVES = {"nwj", "mine", "smile"}


def _pairs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    return x, 0.8 * x + 0.6 * rng.standard_normal((n, 3))


def test_fast_options_cover_every_registered_mi_estimator():
    assert set(FAST) == set(mi_estimators.names())


@pytest.mark.parametrize("name", sorted(FAST))
def test_every_mi_estimator_follows_the_contract(name, tmp_path):
    x, y = _pairs()
    cls = mi_estimators.get(name)
    est = cls(3, 3, seed=4, **FAST[name])
    assert isinstance(est, MIEstimator) and est.name == name and est.dims == (3, 3)
    assert est.fit(x, y, progress=None) is est
    value = est.mi(x, y)
    assert math.isfinite(value)
    assert est.mi_many(x, [y, x]) == pytest.approx([value, est.mi(x, x)], rel=1e-9, abs=1e-12)
    # weighted estimates on resamples equal re-estimation on the resampled pairs
    w = resample_weights(len(x), 3, np.random.default_rng(1))
    assert est.mi_weighted(x, y, np.full((1, len(x)), 1 / len(x)))[0] == pytest.approx(value, rel=1e-5, abs=1e-6)
    for b, got in enumerate(est.mi_weighted(x, y, w) if name not in COPIES_NOT_NEGATIVES else ()):
        idx = np.repeat(np.arange(len(x)), np.rint(w[b] * len(x)).astype(np.int64))
        assert got == pytest.approx(est.mi(x[idx], y[idx]), rel=1e-5, abs=1e-6)
    # pointwise contributions, where the estimator has them, average to the estimate
    pw = est.pointwise(x, y)
    if pw is not None:
        assert pw.shape == (len(x),) and float(np.mean(pw)) == pytest.approx(value, rel=1e-5, abs=1e-6)
    cfg = est.config()
    assert cfg["name"] == name and cfg["seed"] == 4 and (cfg["x_dim"], cfg["y_dim"]) == (3, 3)
    assert all(not isinstance(v, list) for v in est.fit_summary().values())
    est.save(tmp_path / "e")
    back = cls.load(tmp_path / "e")
    assert back.config() == cfg and back.mi(x, y) == pytest.approx(value, rel=1e-6, abs=1e-9)
    with pytest.raises(ValueError, match="dim"):
        est.mi(x[:, :2], y)


@pytest.mark.parametrize("name", ["club", "club-sampled", "infonce"])
def test_pointwise_forms_exist_where_the_estimator_has_one(name):
    x, y = _pairs(50, seed=3)
    est = mi_estimators.get(name)(3, 3, seed=0, **FAST[name]).fit(x, y)
    assert est.pointwise(x, y) is not None


def test_club_pointwise_equals_the_naive_log_ratio():
    """c_i = log q(y_i|x_i) − (1/n) Σ_j log q(y_j|x_i), from the Gaussian density written out."""
    from mllmshift.estimators.mi.club import CLUB

    x, y = _pairs(40, seed=5)
    est = CLUB(3, 3, hidden_size=8, seed=2, max_epochs=2).fit(x, y)
    mu, inv = est.conditional(x)
    logq = lambda yy: -0.5 * (((yy[None, :, :] - mu[:, None, :]) ** 2) * inv[:, None, :]).sum(axis=2)  # noqa: E731
    table = logq(y)  # [i, j] = log q(y_j | x_i) up to constants that cancel
    naive = np.diag(table) - table.mean(axis=1)
    np.testing.assert_allclose(est.pointwise(x, y), naive, rtol=1e-4, atol=1e-5)


def test_infonce_pointwise_equals_the_naive_softmax_terms():
    from mllmshift.estimators.mi.infonce import InfoNCE

    x, y = _pairs(30, seed=6)
    est = InfoNCE(3, 3, hidden_size=8, max_steps=20, seed=1).fit(x, y)
    import torch

    with torch.no_grad():
        xt, yt = est._tensor(x, est._x_moments), est._tensor(y, est._y_moments)
        scores = est.critic.cross(xt, yt).double().numpy()
    naive = np.diag(scores) - (np.log(np.exp(scores).sum(axis=1)) - math.log(len(x)))
    np.testing.assert_allclose(est.pointwise(x, y), naive, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(FAST))
def test_an_unknown_option_is_refused_at_construction_naming_it(name):
    with pytest.raises(EstimatorOptionError, match=rf"estimator '{name}' does not take the options \['bogus'\]"):
        mi_estimators.get(name)(3, 3, seed=0, bogus=1)


def test_every_divergence_and_test_is_built_with_a_seed():
    a, b = _pairs(40)
    for name in divergence_estimators.names():
        est = divergence_estimators.get(name)(seed=3)
        v = est.divergence(a, b + 1.0)
        assert 0.0 <= v <= math.log(2) + 1e-9 and isinstance(est.label(), str)
    for name in two_sample_tests.names():
        assert two_sample_tests.get(name)(seed=3).test(a, b).seed == 3


def test_member_seeds_keep_the_seed_for_one_member_and_derive_them_for_more():
    assert member_seeds(7, 1) == [7]
    assert member_seeds(7, 3) == [derive_seed(7, "estimator", k) for k in range(3)]
    assert len(set(member_seeds(7, 5))) == 5
    with pytest.raises(ValueError, match="at least 1"):
        member_seeds(7, 0)
