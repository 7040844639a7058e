"""Bootstrap weights: Poisson weights generated per chunk are a function of (seed, replicate, row) only, and the
Poisson bootstrap's intervals agree with the multinomial bootstrap's on data that fits in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mllmshift.estimators.mi.club import CLUB
from mllmshift.metrics import bootstrap_emi
from mllmshift.resampling import PoissonWeights, choose_scheme


def test_poisson_weights_do_not_depend_on_how_they_are_read():
    w = PoissonWeights(10_000, 150, seed=3)
    whole = w.block(0, 10_000)
    assert whole.shape == (150, 10_000)
    parts = np.concatenate([w.block(s, min(s + 777, 10_000)) for s in range(0, 10_000, 777)], axis=1)
    np.testing.assert_array_equal(parts, whole)
    # the first replicates are the same with more of them, and a selection picks rows of the whole
    np.testing.assert_array_equal(PoissonWeights(10_000, 300, seed=3).block(0, 10_000)[:150], whole)
    np.testing.assert_array_equal(w.select([149, 2]).block(100, 200), whole[[149, 2], 100:200])
    np.testing.assert_array_equal(w.totals(), whole.sum(axis=1))
    # Poisson(1): mean 1 and variance 1; other seeds and streams differ
    assert whole.mean() == pytest.approx(1.0, abs=0.01) and whole.var() == pytest.approx(1.0, abs=0.02)
    assert not np.array_equal(PoissonWeights(10_000, 150, seed=4).block(0, 100), whole[:, :100])
    assert not np.array_equal(PoissonWeights(10_000, 150, seed=3, stream=1).block(0, 100), whole[:, :100])


def test_auto_scheme_switches_on_the_size_of_the_count_matrix():
    assert choose_scheme("auto", 90, 1000) == "multinomial"
    assert choose_scheme("auto", 1_000_000, 1000) == "poisson"
    assert choose_scheme("poisson", 90, 10) == "poisson"
    with pytest.raises(ValueError, match="unknown bootstrap scheme"):
        choose_scheme("jackknife", 10, 10)


def test_poisson_and_multinomial_bootstrap_intervals_agree():
    """On 3,000 samples the two bootstraps estimate the same sampling distribution of EMI: their standard
    deviations agree within 12 % and their interval ends within a fifth of the interval's width."""
    torch.set_num_threads(1)
    g = np.random.default_rng(5)
    x = g.standard_normal((3000, 6)).astype(np.float32)
    y_hat = (x[:, :4] + 0.7 * g.standard_normal((3000, 4))).astype(np.float32)
    y = (x[:, :4] + 1.5 * g.standard_normal((3000, 4))).astype(np.float32)
    est = CLUB(6, 4, hidden_size=16, max_epochs=30, seed=0).fit(np.vstack([x, x]), np.vstack([y_hat, y]))
    m = bootstrap_emi(x, y_hat, y, est, n_resamples=600, seed=1, scheme="multinomial")
    p = bootstrap_emi(x, y_hat, y, est, n_resamples=600, seed=1, scheme="poisson")
    assert (m.scheme, p.scheme) == ("multinomial", "poisson")
    assert p.std == pytest.approx(m.std, rel=0.12)
    width = m.high - m.low
    assert abs(p.low - m.low) < 0.2 * width and abs(p.high - m.high) < 0.2 * width
