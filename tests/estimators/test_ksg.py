"""KSG: agreement with scikit-learn (an independent implementation), closed forms, invariances, I/O."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.errors import DataError
from mllmshift.estimators.mi.ksg import KSG, ksg


@pytest.mark.parametrize("n,rho,k", [(100, 0.75, 3), (1000, 0.5, 3), (500, 0.9, 5)])
def test_agrees_with_scikit_learn_in_one_dimension(n, rho, k):
    sklearn = pytest.importorskip("sklearn.feature_selection")
    r = np.random.default_rng(n)
    x = r.normal(size=n)
    y = rho * x + math.sqrt(1 - rho**2) * r.normal(size=n)
    ours = KSG(k=k).mi(x, y)
    # scikit-learn scales to unit variance and adds noise of relative size 1e-10 to break ties:
    # neighbour counts are unchanged, so the two agree to rounding.
    theirs = sklearn.mutual_info_regression(x[:, None], y, n_neighbors=k, random_state=0)[0]
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_recovers_gaussian_mi_in_low_dimension():
    # X, Y ∈ ℝ², coordinate-wise ρ = 0.6: I = −ln(1 − 0.36) = 0.446 nats. KSG's bias in 4 joint
    # dimensions at n = 3,000 is below 0.02 and its sd about 0.015 (Kraskov et al., fig. 4); tolerance 0.06.
    r = np.random.default_rng(1)
    x = r.normal(size=(3000, 2))
    y = 0.6 * x + 0.8 * r.normal(size=(3000, 2))
    assert KSG().mi(x, y) == pytest.approx(-math.log(1 - 0.36), abs=0.06)


def test_independent_is_near_zero_and_standardisation_is_exact_invariance(rng):
    x, y = rng.normal(size=(1000, 1)), rng.normal(size=(1000, 2))
    # the estimator's sd at n = 1,000 for independent data is ≈ 0.01
    assert abs(KSG().mi(x, y)) < 0.04
    a = KSG().mi(x, y)
    assert KSG().mi(100 * x, y * [[0.01, 7.0]]) == pytest.approx(a, abs=1e-12)


def test_function_checks_k_and_seeded_jitter(rng):
    with pytest.raises(ValueError, match="k < n"):
        ksg(np.zeros((3, 1)), np.zeros((3, 1)), k=3)
    x = np.repeat(rng.normal(size=(50, 1)), 2, axis=0)  # ties
    a = KSG(jitter=1e-6, seed=1).mi(x, x)
    assert a == KSG(jitter=1e-6, seed=1).mi(x, x)
    assert a != KSG(jitter=1e-6, seed=2).mi(x, x)


def test_dims_are_checked_and_roundtrip(tmp_path, rng):
    est = KSG(k=4).fit(rng.normal(size=(10, 2)), rng.normal(size=(10, 1)))
    with pytest.raises(ValueError, match="x of dim 2"):
        est.mi(rng.normal(size=(10, 3)), rng.normal(size=(10, 1)))
    est.save(tmp_path / "ksg.json")
    back = KSG.load(tmp_path / "ksg.json")
    assert back.config() == est.config()
    (tmp_path / "bad.json").write_text('{"format": "mllmshift-stateless-mi/1", "name": "gaussian"}')
    with pytest.raises(DataError, match="not 'ksg'"):
        KSG.load(tmp_path / "bad.json")
