"""Gaussian / CCA MI: canonical correlations computed independently, Ledoit–Wolf against scikit-learn, copula."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.estimators.mi.gaussian import GaussianMI, gaussian_mi, ledoit_wolf_shrinkage


def _cca_mi(x: np.ndarray, y: np.ndarray) -> float:
    """−½ Σ log(1 − ρ_k²), ρ_k the singular values of Σxx^{-1/2} Σxy Σyy^{-1/2} (no shrinkage)."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    n = len(x)

    def inv_sqrt(c: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(c)
        return v @ np.diag(w**-0.5) @ v.T

    m = inv_sqrt(x.T @ x / n) @ (x.T @ y / n) @ inv_sqrt(y.T @ y / n)
    rho = np.linalg.svd(m, compute_uv=False)
    return float(-0.5 * np.sum(np.log(1 - rho**2)))


def test_equals_canonical_correlation_formula(rng):
    x = rng.normal(size=(300, 3))
    y = x[:, :2] @ rng.normal(size=(2, 4)) + rng.normal(size=(300, 4))
    assert gaussian_mi(x, y, shrinkage=0.0) == pytest.approx(_cca_mi(x, y), rel=1e-9)


def test_ledoit_wolf_matches_scikit_learn(rng):
    cov = pytest.importorskip("sklearn.covariance")
    z = rng.normal(size=(40, 60)) @ rng.normal(size=(60, 60))
    assert ledoit_wolf_shrinkage(z) == pytest.approx(cov.ledoit_wolf_shrinkage(z), rel=1e-9)


def test_recovers_gaussian_truth():
    # ρ = 0.5 on 3 coordinate pairs: I = −1.5 ln 0.75 = 0.4315. The plug-in estimate has bias
    # ≈ dx·dy/(2n) = 0.0045 and sd ≈ 0.01 at n = 10,000; Ledoit–Wolf shrinkage is ~1e-4 here. Tol 0.03.
    r = np.random.default_rng(0)
    x = r.normal(size=(10_000, 3))
    y = 0.5 * x + math.sqrt(0.75) * r.normal(size=(10_000, 3))
    assert GaussianMI().mi(x, y) == pytest.approx(-1.5 * math.log(0.75), abs=0.03)


def test_copula_is_invariant_to_monotone_transforms(rng):
    x = rng.normal(size=(500, 2))
    y = x + rng.normal(size=(500, 2))
    est = GaussianMI(copula=True)
    # ranks are unchanged by strictly increasing maps, so the estimate is identical
    assert est.mi(np.sinh(3 * x), np.cbrt(y) + 5) == pytest.approx(est.mi(x, y), rel=1e-12)
    assert GaussianMI().mi(np.sinh(3 * x), y) != pytest.approx(GaussianMI().mi(x, y), rel=1e-3)


def test_shrinkage_keeps_high_dimension_finite_and_nonnegative(rng):
    x, y = rng.normal(size=(50, 80)), rng.normal(size=(50, 80))
    with pytest.raises(ValueError, match="singular"):
        GaussianMI(shrinkage=0.0).mi(x, y)
    v = GaussianMI().mi(x, y)
    assert 0.0 <= v < np.inf
    with pytest.raises(ValueError, match="shrinkage"):
        GaussianMI(shrinkage="oas").mi(x, y)


def test_roundtrip(tmp_path):
    est = GaussianMI(shrinkage=0.1, copula=True)
    est.save(tmp_path / "g.json")
    assert GaussianMI.load(tmp_path / "g.json").config() == est.config()


def _naive_mi(x: np.ndarray, y: np.ndarray, lam: float) -> float:
    """½(log det R_XX + log det R_YY − log det R) on the p × p shrunk correlation matrix, as written."""
    z = np.hstack([x, y]).astype(np.float64)
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    r = (1.0 - lam) * (z.T @ z / len(z)) + lam * np.eye(z.shape[1])
    dx = x.shape[1]
    logdet = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return 0.5 * (logdet(r[:dx, :dx]) + logdet(r[dx:, dx:]) - logdet(r))


def _naive_ledoit_wolf(z: np.ndarray) -> float:
    z = z - z.mean(axis=0)
    n, p = z.shape
    s = z.T @ z / n
    mu = np.trace(s) / p
    delta = np.sum((s - mu * np.eye(p)) ** 2) / p
    beta = sum(np.sum((np.outer(r, r) - s) ** 2) for r in z) / (n * n * p)
    return float(min(beta, delta) / delta)


@pytest.mark.parametrize("n, dx, dy", [(12, 30, 50), (40, 8, 9), (25, 20, 5)])
def test_fewer_rows_than_columns_gives_the_p_by_p_value(rng, n, dx, dy):
    # the n × n Gram route (Sylvester's identity) against the p × p determinants, fixed λ and Ledoit–Wolf's
    x = rng.normal(size=(n, dx))
    y = x[:, :1] @ rng.normal(size=(1, dy)) + rng.normal(size=(n, dy))
    z = np.hstack([x, y])
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    assert ledoit_wolf_shrinkage(z) == pytest.approx(_naive_ledoit_wolf(z), rel=1e-10)
    for lam in (0.05, 0.5, 1.0):
        assert gaussian_mi(x, y, lam) == pytest.approx(max(0.0, _naive_mi(x, y, lam)), rel=1e-9, abs=1e-12)
    assert gaussian_mi(x, y) == pytest.approx(max(0.0, _naive_mi(x, y, ledoit_wolf_shrinkage(z))), rel=1e-9)
