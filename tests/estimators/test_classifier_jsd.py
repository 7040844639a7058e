"""Classifier JSD: closed-form extremes, a quadrature truth, the lower-bound property, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.estimators.divergence.classifier import ClassifierJSD

LN2 = math.log(2)


def test_separable_samples_give_ln2(rng):
    # Perfectly separable: held-out CE → 0 up to the early-stopping tolerance (1e-3 per check);
    # tolerance 0.02.
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + 20.0
    assert ClassifierJSD(hidden_size=0).divergence(a, b) == pytest.approx(LN2, abs=0.02)


def test_identical_distributions_give_about_zero(rng):
    a, b = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))
    res = ClassifierJSD(hidden_size=0).estimate(a, b)
    # held-out CE of a classifier with nothing to learn is ln 2 plus overfitting noise; the raw value
    # is ≤ 0 up to sampling noise (sd ≈ 0.01 at 800 points), and the clipped value is 0 or tiny.
    assert res.raw < 0.03
    assert 0.0 <= res.value < 0.03
    assert res.cross_entropy == pytest.approx(LN2 - res.raw)


def test_mean_shift_against_quadrature_and_lower_bound(quadrature_jsd_normal):
    # N(0,1) vs N(1.5,1): truth by quadrature. Logistic regression is the Bayes-optimal family
    # here (log density ratio linear), so the estimate is close: held-out CE on 2 × 2,000 points
    # has sd ≈ 0.01. It is a lower bound in expectation, so allow 0.03 above, 0.05 below.
    truth = quadrature_jsd_normal(1.5)
    r = np.random.default_rng(3)
    a, b = r.normal(size=(2000, 1)), r.normal(size=(2000, 1)) + 1.5
    v = ClassifierJSD(hidden_size=0).divergence(a, b)
    assert truth - 0.05 < v < truth + 0.03


def test_seeded_and_reproducible(rng):
    a, b = rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + 0.7
    est = ClassifierJSD(seed=4, max_steps=200)
    assert est.divergence(a, b) == ClassifierJSD(seed=4, max_steps=200).divergence(a, b)
    assert est.divergence(a, b) != ClassifierJSD(seed=5, max_steps=200).divergence(a, b)


def test_bad_input(rng):
    with pytest.raises(ValueError, match="folds"):
        ClassifierJSD(folds=1)
    with pytest.raises(ValueError, match="at least 4"):
        ClassifierJSD().divergence(rng.normal(size=(3, 2)), rng.normal(size=(10, 2)))
