"""Per-pair contributions whose mean is the estimate, for every default estimator (SMILE, CLUB) and the
cross-fitted ones: checked against independent numpy implementations of the split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mllmshift.estimators import mi_estimators
from mllmshift.estimators.mi.crossfit import CrossFitMI
from mllmshift.resampling import MatrixWeights

CRITIC = {"hidden_size": 16, "embed_dim": 8, "max_steps": 40, "eval_every": 10, "patience": 2}
CLUB_TINY = {"hidden_size": 16, "max_epochs": 15, "patience": 3}


def _data(rng: np.random.Generator, n: int = 60, rho: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 3))
    return x, rho * x[:, :2] + math.sqrt(1 - rho**2) * rng.normal(size=(n, 2))


def _scores(est, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """S[i, j] = T(x_i, y_j) of a critic estimator (float64), computed pair by pair block."""
    with torch.no_grad():
        return est.critic.cross(est._tensor(x, est._x_moments), est._tensor(y, est._y_moments)).double().numpy()


def _naive_influence(s: np.ndarray, name: str, tau: float | None) -> np.ndarray:
    """The influence split of a DV/NWJ-type bound, written out from the score matrix with numpy."""
    n = len(s)
    off = ~np.eye(n, dtype=bool)
    e = np.exp(np.where(off, s, -np.inf))
    ec = np.exp(np.where(off, np.clip(s, -tau, tau), -np.inf)) if tau is not None else e
    pos = np.diag(s)
    r, rc = e.sum(1) / (n - 1), ec.sum(1) / (n - 1)
    big_l, big_lc = math.log(r.mean()), math.log(rc.mean())
    if name == "smile":  # f = mean T − Lc: ∂f/∂T̄ = 1, ∂f/∂Lc = −1
        return pos.mean() - big_lc + (pos - pos.mean()) - (rc / rc.mean() - 1)
    if name == "mine":
        return pos.mean() - big_l + (pos - pos.mean()) - (r / r.mean() - 1)
    assert name == "nwj"  # f = mean T − e^{L − 1}
    f = pos.mean() - math.exp(big_l - 1)
    return f + (pos - pos.mean()) - math.exp(big_l - 1) * (r / r.mean() - 1)


@pytest.mark.parametrize("name", ["smile", "mine", "nwj"])
def test_critic_pointwise_is_the_influence_split_and_averages_to_the_estimate(rng, name):
    x, y = _data(rng)
    est = mi_estimators.get(name)(3, 2, seed=2, **CRITIC).fit(x, y)
    pw = est.pointwise(x[:40], y[:40])
    assert pw.mean() == pytest.approx(est.mi(x[:40], y[:40]), rel=1e-10, abs=1e-12)
    tau = est.cfg.tau if name == "smile" else None
    want = _naive_influence(_scores(est, x[:40], y[:40]), name, tau)
    np.testing.assert_allclose(pw, want, rtol=1e-5, atol=1e-6)


def test_smile_pointwise_with_sampled_negatives_averages_to_the_estimate(rng):
    x, y = _data(rng, 80)
    est = mi_estimators.get("smile")(3, 2, seed=0, negatives=7, **CRITIC).fit(x, y)
    assert est.pointwise(x, y).mean() == pytest.approx(est.mi(x, y), rel=1e-10, abs=1e-12)


def test_a_pair_whose_answer_fits_every_input_pulls_smile_down(rng):
    # row 0's answer is replaced by the mean answer: its positive score is no higher than its negatives', so its
    # contribution is below the average one
    x, y = _data(rng, 80, rho=0.95)
    est = mi_estimators.get("smile")(3, 2, seed=0, **{**CRITIC, "max_steps": 200}).fit(x, y)
    y2 = y.copy()
    y2[0] = -y[0]
    pw = est.pointwise(x, y2)
    assert pw[0] < np.median(pw)


def test_crossfit_club_scores_each_row_with_the_member_of_its_fold(rng):
    x, y = _data(rng, 90)
    groups = [f"item{i % 30}" for i in range(90)]
    est = CrossFitMI(3, 2, base="club", folds=3, seed=5, **CLUB_TINY).fit(x, y, groups=groups)
    xs, ys = x[:45], y[:45]
    fold = est.folds_of(xs)
    naive = np.array([est.members[fold[i]].pointwise(xs, ys)[i] for i in range(45)])
    np.testing.assert_allclose(est.pointwise(xs, ys), naive, rtol=1e-9, atol=1e-12)
    assert est.mi(xs, ys) == pytest.approx(naive.mean(), rel=1e-9, abs=1e-12)
    idx = rng.integers(0, 45, size=45)
    counts = np.bincount(idx, minlength=45)[None, :].astype(float)
    got = est.mi_resampled(xs, [ys], MatrixWeights(counts))[0, 0]
    assert got == pytest.approx(est.mi(xs[idx], ys[idx]), rel=1e-9, abs=1e-12)
    for k, m in enumerate(est.members):  # no member saw a row of its own fold
        assert m.history["n_train"] + m.history["n_val"] == 90 - int((est.folds_of(x) == k).sum())


@pytest.mark.parametrize("base", ["smile", "nwj"])
def test_crossfit_critic_pointwise_averages_to_the_estimate_and_bootstraps_exactly(rng, base):
    x, y = _data(rng, 60)
    est = CrossFitMI(3, 2, base=base, folds=3, seed=1, **CRITIC).fit(x, y)
    pw = est.pointwise(x[:30], y[:30])
    assert pw.mean() == pytest.approx(est.mi(x[:30], y[:30]), rel=1e-10, abs=1e-12)
    uniform = np.ones((1, 30))
    assert est.mi_resampled(x[:30], [y[:30]], MatrixWeights(uniform))[0, 0] == pytest.approx(
        est.mi(x[:30], y[:30]), rel=1e-9, abs=1e-12)


def test_crossfit_fits_and_scores_on_disk_sources_as_on_arrays(rng):
    from mllmshift.sources import ArraySource

    x, y = (a.astype(np.float32) for a in _data(rng, 60))
    a = CrossFitMI(3, 2, base="club", folds=3, seed=0, **CLUB_TINY).fit(x, y)
    b = CrossFitMI(3, 2, base="club", folds=3, seed=0, **CLUB_TINY).fit(ArraySource(x), ArraySource(y))
    assert b.mi(ArraySource(x), ArraySource(y)) == pytest.approx(a.mi(x, y), rel=1e-12, abs=1e-12)
