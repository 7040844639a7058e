"""Relative score, win rate, bootstrap CIs and position bias against closed forms and a naive loop."""

from __future__ import annotations

import numpy as np
import pytest

from mllmshift.judge.stats import judge_stats, position_bias, relative_score, win_rate, wins


def test_closed_forms():
    m = np.array([8, 6, 7, 5.0])
    r = np.array([8, 8, 6, 10.0])
    assert relative_score(m, r) == pytest.approx(100 * 26 / 32)
    # wins: tie, loss, win, loss -> (0.5 + 0 + 1 + 0) / 4
    assert wins(m, r).tolist() == [0.5, 0.0, 1.0, 0.0]
    assert win_rate(m, r) == pytest.approx(0.375)


def test_relative_score_is_scale_invariant_and_win_rate_antisymmetric(rng):
    m = rng.integers(1, 11, 50).astype(float)
    r = rng.integers(1, 11, 50).astype(float)
    assert relative_score(2 * m, 2 * r) == pytest.approx(relative_score(m, r))
    assert win_rate(m, r) + win_rate(r, m) == pytest.approx(1.0)


def test_bootstrap_matches_a_naive_loop_with_the_same_draws(rng):
    m = rng.integers(1, 11, 23).astype(float)
    r = rng.integers(1, 11, 23).astype(float)
    st = judge_stats(m, r, n_resamples=300, seed=7, confidence=0.9)
    draws = np.random.default_rng(7).integers(0, 23, size=(300, 23))
    rs, wr = [], []
    for row in draws:  # naive: one resample at a time
        mm, rr = m[row], r[row]
        rs.append(100 * sum(mm) / sum(rr))
        wr.append(sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(mm, rr)) / len(row))
    assert st.relative_score_ci == pytest.approx(tuple(np.percentile(rs, [5, 95])))
    assert st.win_rate_ci == pytest.approx(tuple(np.percentile(wr, [5, 95])))
    assert st.relative_score_ci[0] <= st.relative_score <= st.relative_score_ci[1]
    assert st.to_dict()["bootstrap"] == {"n_resamples": 300, "seed": 7, "confidence": 0.9}


def test_degenerate_and_reproducible():
    st = judge_stats(np.full(10, 9.0), np.full(10, 6.0), n_resamples=100, seed=0)
    assert st.relative_score == 150.0 and st.relative_score_ci == (150.0, 150.0)
    assert st.win_rate == 1.0 and st.win_rate_ci == (1.0, 1.0)
    a = judge_stats(np.arange(1, 11.0), np.full(10, 5.0), seed=3)
    b = judge_stats(np.arange(1, 11.0), np.full(10, 5.0), seed=3)
    assert a == b
    with pytest.raises(ValueError):
        judge_stats(np.array([]), np.array([]))


def test_position_bias_closed_form():
    # normal order: ref first, model second; the judge adds +1 to whoever is second
    true_m, true_r = np.array([9.0, 5, 8]), np.array([6.0, 6, 8])
    pb = position_bias(true_m + 1, true_r, true_m, true_r + 1)
    assert pb["bias"] == pytest.approx(1.0) and pb["n"] == 3
    # item 0: 10>6 then 9>7, model wins in both orders; item 1: 6=6 tie then 5<7 loss; item 2: 9>8 then 8<9
    assert pb["consistency"] == pytest.approx(1 / 3)
    unbiased = position_bias(true_m, true_r, true_m, true_r)
    assert unbiased == {"n": 3, "bias": 0.0, "consistency": 1.0}
