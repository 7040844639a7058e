"""The Monte Carlo JSD oracle against closed forms and quadrature; JSD task truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from mllmshift.validation.jsd_tasks import GaussianMixture, OrthogonalSubspacesTask, jsd_tasks
from mllmshift.validation.oracle import jsd_monte_carlo

LN2 = math.log(2)


def _gauss_1d(mu: float) -> GaussianMixture:
    return GaussianMixture.gaussian(np.array([mu]), np.eye(1))


def _mc(p: GaussianMixture, q: GaussianMixture, n: int = 100_000, seed: int = 0) -> tuple[float, float]:
    return jsd_monte_carlo(p.sample, p.logpdf, q.sample, q.logpdf, n, np.random.default_rng(seed))


def test_identical_distributions_give_zero():
    p = _gauss_1d(0.0)
    v, se = _mc(p, p, 1000)
    # log p − (logaddexp(log p, log p) − ln 2) is 0 up to one rounding of ln 2
    assert v == pytest.approx(0.0, abs=1e-12) and se < 1e-12


def test_far_apart_gaussians_give_ln2():
    v, se = _mc(_gauss_1d(0.0), _gauss_1d(40.0), 2000)
    assert v == pytest.approx(LN2, abs=1e-12)


@pytest.mark.parametrize("mu", [0.5, 1.5, 3.0])
def test_matches_quadrature_in_one_dimension(mu, quadrature_jsd_normal):
    v, se = _mc(_gauss_1d(0.0), _gauss_1d(mu))
    assert se < 0.003
    assert v == pytest.approx(quadrature_jsd_normal(mu), abs=4 * se)


def test_mixture_density_is_normalised_and_sampled():
    m = GaussianMixture((0.3, 0.7), ((-2.0,), (1.0,)), (np.eye(1) * 0.5, np.eye(1)))
    mass = integrate.quad(lambda t: math.exp(m.logpdf(np.array([[t]]))[0]), -20, 20)[0]
    assert mass == pytest.approx(1.0, abs=1e-8)
    z = m.sample(100_000, np.random.default_rng(0))
    assert z.mean() == pytest.approx(0.3 * -2 + 0.7 * 1, abs=0.02)


def test_task_truths(quadrature_jsd_normal):
    tasks = jsd_tasks()
    assert tasks["identical-5d"].true_jsd == 0.0
    # a 5-d mean shift of 1.5 along one axis is the 1-d problem
    assert tasks["gauss-mean-5d"].true_jsd == pytest.approx(quadrature_jsd_normal(1.5),
                                                         abs=4 * tasks["gauss-mean-5d"].oracle[1])
    for name in ("orthogonal-16in64", "orthogonal-sphere-16in768"):
        assert tasks[name].true_jsd == LN2
    t = OrthogonalSubspacesTask("o", 10, 3, sphere=True)
    r = np.random.default_rng(0)
    a, b = t.sample_p(20, r), t.sample_q(20, r)
    assert np.all(a[:, 3:] == 0) and np.all(b[:, :3] == 0) and np.all(b[:, 6:] == 0)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    with pytest.raises(ValueError, match="dim >= 2k"):
        OrthogonalSubspacesTask("bad", 5, 3)
