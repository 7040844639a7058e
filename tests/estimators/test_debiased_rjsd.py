"""rjsd-debiased: the shuffle correction against a naive re-implementation, zero mean under P = Q where the
plug-in RJSD is biased up, invariances, and continuity in n."""

from __future__ import annotations

import numpy as np
import pytest

from mllmshift.estimators import divergence_estimators
from mllmshift.estimators.divergence.debiased_rjsd import DebiasedRJSD
from mllmshift.estimators.divergence.rjsd import rjsd


def test_equals_plug_in_minus_mean_over_explicit_re_splits(rng):
    a, b = rng.normal(size=(40, 6)), rng.normal(size=(25, 6)) + 0.3
    est = DebiasedRJSD(permutations=7, seed=3, clip=False)
    res = est.estimate(a, b)
    perm_rng = np.random.default_rng(3)
    pooled = np.vstack([a, b])
    null = []
    for _ in range(7):
        order = perm_rng.permutation(65)
        null.append(rjsd(pooled[order[:40]], pooled[order[40:]]))
    assert res.raw == pytest.approx(rjsd(a, b), rel=1e-12)
    assert res.null_mean == pytest.approx(np.mean(null), rel=1e-12)
    assert res.value == pytest.approx(rjsd(a, b) - np.mean(null), rel=1e-12)
    assert divergence_estimators.create("rjsd-debiased").config()["permutations"] == 20


def test_unbiased_under_the_null_where_the_plug_in_is_not():
    # P = Q in 40 dimensions, 30 points each: the plug-in RJSD is far above 0 (the two small samples span
    # different subspaces); the corrected estimate averages to 0 within its standard error
    rng = np.random.default_rng(7)
    raw, corrected = [], []
    for _ in range(40):
        a, b = rng.normal(size=(30, 40)), rng.normal(size=(30, 40))
        r = DebiasedRJSD(permutations=10, seed=int(rng.integers(1 << 30)), clip=False).estimate(a, b)
        raw.append(r.raw)
        corrected.append(r.value)
    se = np.std(corrected, ddof=1) / np.sqrt(len(corrected))
    assert np.mean(raw) > 0.1
    assert abs(np.mean(corrected)) < 3 * se + 1e-3


def test_invariant_to_rotation_and_scale(rng):
    a, b = rng.normal(size=(50, 5)), rng.normal(size=(60, 5)) * [2, 1, 1, 1, 1]
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    est = DebiasedRJSD(permutations=5, seed=0, clip=False)
    base = est.estimate(a, b).value
    assert est.estimate(a @ q, b @ q).value == pytest.approx(base, abs=1e-10)
    assert est.estimate(3.0 * a, 3.0 * b).value == pytest.approx(base, abs=1e-10)


def test_clip_and_options():
    a = np.random.default_rng(1).normal(size=(20, 3))
    res = DebiasedRJSD(permutations=5, seed=0).estimate(a, a[::-1].copy())
    assert res.raw == pytest.approx(0.0, abs=1e-9) and res.value == 0.0 and res.null_mean > 0
    with pytest.raises(ValueError, match="permutations"):
        DebiasedRJSD(permutations=0)


def test_continuous_in_n(rng):
    # the same two distributions at n = 999 and 1,000 (the second sample adds one point to the first):
    # the estimates differ by far less than their own sampling spread
    shift = np.array([1.5, 0, 0, 0, 0])

    def draw() -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(size=(1000, 5)), rng.normal(size=(1000, 5)) + shift

    est = DebiasedRJSD(seed=0)
    a, b = draw()
    at_999, at_1000 = est.divergence(a[:999], b[:999]), est.divergence(a, b)
    spread = np.std([est.divergence(*draw()) for _ in range(5)], ddof=1)
    assert 0.02 < at_1000 < 0.06  # RJSD sees this mean shift only through the second moments
    assert abs(at_999 - at_1000) < spread
