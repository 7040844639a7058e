"""RFF-RJSD: the feature map against the exact kernel, closed-form values (0 and ln 2), seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.estimators.divergence.kernels import median_bandwidth, random_fourier_features, rbf_kernel
from mllmshift.estimators.divergence.rff_rjsd import RFFRJSD


def test_features_approximate_the_rbf_kernel(rng):
    # E[φ(a)ᵀφ(b)] = k(a, b); each entry of the Gram estimate has sd ≤ 1/√D = 0.0078 at D = 16,384,
    # so the max abs error over 100 entries stays below 0.04 (≈ 5 sd).
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    sigma, d = 1.7, 16_384
    w = rng.normal(size=(3, d)) / sigma
    phase = rng.uniform(0, 2 * np.pi, size=d)
    approx = random_fourier_features(a, w, phase) @ random_fourier_features(b, w, phase).T
    assert np.max(np.abs(approx - rbf_kernel(a, b, sigma))) < 0.04


def test_median_bandwidth_is_the_median_distance(rng):
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    z = np.vstack([a, b])
    naive = np.median([np.linalg.norm(z[i] - z[j]) for i in range(11) for j in range(i + 1, 11)])
    assert median_bandwidth(a, b, rng) == pytest.approx(naive, rel=1e-9)


def test_same_sample_gives_zero(rng):
    a = rng.normal(size=(200, 4))
    assert RFFRJSD(n_features=256).divergence(a, a) == pytest.approx(0.0, abs=1e-9)


def test_disjoint_clusters_with_narrow_kernel_give_ln2(rng):
    # Clusters 100 apart with σ = 1: every cross-kernel value is exp(−5000) = 0, so the feature
    # covariances live (up to RFF error) in orthogonal subspaces and RJSD → ln 2. The residual comes
    # from the random features' cross-terms, O(1/√D) per entry; tolerance 0.05 at D = 2,048.
    a = rng.normal(size=(300, 2))
    b = rng.normal(size=(300, 2)) + 100.0
    assert RFFRJSD(n_features=2048, bandwidth=1.0).divergence(a, b) == pytest.approx(math.log(2), abs=0.05)


def test_row_and_feature_gram_routes_agree(rng):
    # n + m < D uses the n × n Gram matrices, n + m ≥ D the D × D covariances; tripling every point
    # leaves the normalised covariances (and, with a fixed bandwidth, the features) unchanged
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(80, 3)) + 0.5
    est = RFFRJSD(n_features=256, bandwidth=1.0)
    small = est.divergence(a, b)
    big = est.divergence(np.vstack([a, a, a]), np.vstack([b, b, b]))
    assert small == pytest.approx(big, rel=1e-8)


def test_bounds_and_seeding(rng):
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(120, 3)) + 0.5
    v = RFFRJSD(n_features=128, seed=1).divergence(a, b)
    assert 0.0 <= v <= math.log(2)
    assert v == RFFRJSD(n_features=128, seed=1).divergence(a, b)
    assert v != RFFRJSD(n_features=128, seed=2).divergence(a, b)
    # a larger bandwidth scale smooths the kernel: less separation
    assert RFFRJSD(n_features=128, seed=1, bandwidth_scale=10.0).divergence(a, b) < v


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="bandwidth"):
        RFFRJSD(bandwidth="silverman")
    with pytest.raises(ValueError, match="dimension"):
        RFFRJSD().divergence(rng.normal(size=(5, 2)), rng.normal(size=(5, 3)))
