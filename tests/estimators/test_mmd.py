"""MMD permutation test: the statistic against a naive double loop, p-value properties, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from mllmshift.estimators import two_sample_tests
from mllmshift.estimators.base import TwoSampleTest
from mllmshift.estimators.divergence.kernels import rbf_kernel
from mllmshift.estimators.divergence.mmd import MMDTest, mmd2_unbiased


def _naive_mmd2(a: np.ndarray, b: np.ndarray, sigma: float) -> float:
    k = lambda u, v: np.exp(-np.sum((u - v) ** 2) / (2 * sigma**2))  # noqa: E731
    m, n = len(a), len(b)
    saa = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sbb = sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sab = sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
    return saa + sbb - 2 * sab


def test_statistic_matches_naive_formula(rng):
    a, b = rng.normal(size=(7, 2)), rng.normal(size=(9, 2)) + 0.3
    z = np.vstack([a, b])
    labels = np.zeros((16, 1), dtype=bool)
    labels[:7] = True
    got = mmd2_unbiased(rbf_kernel(z, z, 1.3), labels)[0]
    assert got == pytest.approx(_naive_mmd2(a, b, 1.3), rel=1e-10)
    assert MMDTest(bandwidth=1.3, n_permutations=10).test(a, b).statistic == pytest.approx(got, rel=1e-12)


def test_clear_difference_gives_the_smallest_p_value(rng):
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 2.0
    res = MMDTest(n_permutations=99).test(a, b)
    assert res.p_value == pytest.approx(1 / 100)
    assert res.statistic > 0


def test_p_values_are_roughly_uniform_under_the_null():
    # Under H0 the permutation p-value is uniform: over 40 independent null pairs the share
    # below 0.1 is Binomial(40, ≤0.1): ≤ 10 of them with probability > 0.999.
    r = np.random.default_rng(11)
    ps = [MMDTest(n_permutations=49, seed=s).test(r.normal(size=(30, 2)), r.normal(size=(30, 2))).p_value
          for s in range(40)]
    assert sum(p <= 0.1 for p in ps) <= 10
    assert all(1 / 50 <= p <= 1 for p in ps)


def test_seeded_subsampling_and_registry(rng):
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    t = MMDTest(max_samples=100, n_permutations=20, seed=2)
    assert t.test(a, b) == MMDTest(max_samples=100, n_permutations=20, seed=2).test(a, b)
    assert isinstance(two_sample_tests.create("mmd"), TwoSampleTest)
    assert t.test(a, b).to_dict()["n_permutations"] == 20
