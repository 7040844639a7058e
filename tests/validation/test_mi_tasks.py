"""MI tasks: every truth checked against an independent route (Monte Carlo on the densities, CCA, sampling)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal, multivariate_t

from mllmshift.validation.mi_tasks import (
    TRANSFORMS,
    GaussianTask,
    SphereEmbeddingTask,
    StudentTTask,
    TransformedTask,
    dense_cov,
    inverse_stereographic,
    mi_tasks,
    sparse_cov,
    student_t_correction,
)


def test_gaussian_truths_closed_forms():
    tasks = mi_tasks()
    assert tasks["normal-1x1"].true_mi == pytest.approx(-0.5 * math.log(1 - 0.75**2), rel=1e-12)
    # sparse: two independent pairs with ρ = 0.8, the rest independent
    assert tasks["normal-sparse-25x25"].true_mi == pytest.approx(-math.log(1 - 0.64), rel=1e-12)
    # dense (all correlations 0.5): eigenvalues of 0.5 I + 0.5 11ᵀ give det in closed form
    d = 5
    det = lambda k: 0.5 ** (k - 1) * (0.5 + 0.5 * k)  # noqa: E731
    want = 0.5 * (2 * math.log(det(d)) - math.log(det(2 * d)))
    assert tasks["normal-dense-5x5"].true_mi == pytest.approx(want, rel=1e-12)


def test_gaussian_task_samples_its_covariance():
    t = GaussianTask("t", 2, 3, sparse_cov(2, 3, 1, 0.6))
    x, y = t.sample(200_000, np.random.default_rng(0))
    emp = np.cov(np.hstack([x, y]).T)
    # sd of a sample covariance entry ≈ 1/√n = 0.0022
    np.testing.assert_allclose(emp, t.cov, atol=0.012)


@pytest.mark.parametrize("dims,dof", [((1, 1), 5.0), ((2, 3), 3.0)])
def test_student_t_truth_matches_monte_carlo(dims, dof):
    """E[log p(x,y) − log p(x) − log p(y)] over 200,000 draws, with scipy's multivariate_t densities."""
    dx, dy = dims
    disp = dense_cov(dx, dy, 0.4)
    task = StudentTTask("t", dx, dy, disp, dof)
    x, y = task.sample(200_000, np.random.default_rng(1))
    z = np.hstack([x, y])
    joint = multivariate_t(np.zeros(dx + dy), disp, df=dof).logpdf(z)
    px = multivariate_t(np.zeros(dx), disp[:dx, :dx], df=dof).logpdf(x)
    py = multivariate_t(np.zeros(dy), disp[dx:, dx:], df=dof).logpdf(y)
    terms = joint - px - py
    se = terms.std() / math.sqrt(len(terms))
    assert task.true_mi == pytest.approx(terms.mean(), abs=5 * se)


def test_student_t_correction_vanishes_for_infinite_dof_and_is_positive():
    assert student_t_correction(1e7, 3, 2) == pytest.approx(0.0, abs=1e-6)
    assert student_t_correction(3.0, 1, 1) > 0


def test_transforms_are_strictly_increasing_and_keep_the_truth():
    grid = np.linspace(-5, 5, 1001)
    for name, f in TRANSFORMS.items():
        assert np.all(np.diff(f(grid)) > 0), name
    base = mi_tasks()["normal-dense-5x5"]
    t = TransformedTask(base, "half-cube")  # type: ignore[arg-type]
    assert t.true_mi == base.true_mi and t.name == "half-cube(normal-dense-5x5)"
    x, _ = t.sample(10, np.random.default_rng(0))
    xb, _ = base.sample(10, np.random.default_rng(0))
    np.testing.assert_allclose(x, np.sign(xb) * np.abs(xb) ** 1.5)
    with pytest.raises(ValueError, match="unknown transform"):
        TransformedTask(base, "log")  # type: ignore[arg-type]


def test_inverse_stereographic_lands_on_the_sphere_and_is_invertible(rng):
    u = rng.normal(size=(50, 7))
    s = inverse_stereographic(u)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0, rtol=1e-12)
    back = s[:, :-1] / (1.0 - s[:, -1:])  # the stereographic projection
    np.testing.assert_allclose(back, u, rtol=1e-9, atol=1e-12)


def test_sphere_task_truth_and_shape():
    t = SphereEmbeddingTask(dim=40, rank=4, correlation=0.6)
    assert t.true_mi == pytest.approx(-2 * math.log(1 - 0.36))
    x, y = t.sample(100, np.random.default_rng(0))
    assert x.shape == y.shape == (100, 40)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)
    # undo the sphere map and the rotation: the first 4 latent coordinates carry correlation 0.6
    x, y = t.sample(50_000, np.random.default_rng(1))
    qx, qy = t._rotations
    ux = (x[:, :-1] / (1 - x[:, -1:])) @ qx
    uy = (y[:, :-1] / (1 - y[:, -1:])) @ qy
    corr = [np.corrcoef(ux[:, i], uy[:, i])[0, 1] for i in range(6)]
    np.testing.assert_allclose(corr[:4], 0.6, atol=0.02)
    np.testing.assert_allclose(corr[4:], 0.0, atol=0.02)


def test_gaussian_density_route_agrees_for_dense_task():
    # an independent Monte Carlo of the Gaussian MI through scipy's densities
    t = mi_tasks()["normal-dense-5x5"]
    x, y = t.sample(100_000, np.random.default_rng(2))
    cov = t.cov  # type: ignore[attr-defined]
    terms = (multivariate_normal(np.zeros(10), cov).logpdf(np.hstack([x, y]))
             - multivariate_normal(np.zeros(5), cov[:5, :5]).logpdf(x)
             - multivariate_normal(np.zeros(5), cov[5:, 5:]).logpdf(y))
    assert t.true_mi == pytest.approx(terms.mean(), abs=5 * terms.std() / math.sqrt(len(terms)))
