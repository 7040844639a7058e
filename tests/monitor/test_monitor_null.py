"""Null distributions and thresholds: the conformal quantile, the same-size draws, and the false-alarm
level they give on stationary windows (many windows, Gaussian embeddings), with power under a shift."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_monitor_terms import gaussian_rows, make_calc

from mllmshift.evaluation.config import EvalConfig
from mllmshift.monitor.config import MonitorConfig, WindowSpec
from mllmshift.monitor.null import NullCache, NullDistribution


def test_conformal_threshold_is_the_right_order_statistic():
    null = NullDistribution("text", 10, tuple(float(v) for v in range(1, 100)))  # N = 99 draws 1 … 99
    assert null.threshold(0.05) == 95.0  # ⌈100 · 0.95⌉ = 95th smallest
    assert null.threshold(0.01) == 99.0
    assert null.threshold(0.005) == math.inf  # needs N ≥ 1/α − 1 = 199 draws
    assert null.mean == pytest.approx(50.0) and null.std == pytest.approx(np.std(np.arange(1, 100), ddof=1))
    assert null.z(50.0 + null.std) == pytest.approx(1.0)
    assert NullDistribution("text", 10, (1.0, 1.0)).z(3.0) is None


def test_exceedance_of_the_conformal_threshold_is_at_most_alpha_for_exchangeable_draws():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        draws = rng.normal(size=100)
        null = NullDistribution("t", 1, tuple(sorted(draws)))
        hits += rng.normal() > null.threshold(0.05)
    assert hits / 2000 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 2000)


def test_null_draws_are_same_size_splits_of_the_reference_and_are_cached():
    rng = np.random.default_rng(1)
    ref = gaussian_rows(100, rng, prefix="r")
    cfg = MonitorConfig(WindowSpec.parse("30"), EvalConfig(divergence="rjsd"), min_references=10)
    calc = make_calc(ref, cfg)
    cache = NullCache(calc, 50, seed=0)
    null = cache.get("text", 30)
    assert null is not None and len(null.values) == 50 and list(null.values) == sorted(null.values)
    # draw 0 by hand: the permutation the cache uses, split at 30
    from mllmshift.provenance import derive_seed

    perm = np.random.default_rng(derive_seed(0, "null", "text", 30)).permutation(100)
    first = calc.jsd("text", ref.take(np.sort(perm[30:])), ref.take(np.sort(perm[:30])))
    assert first in null.values
    assert cache.get("text", 30) is null  # computed once
    assert cache.get("text", 60) is None  # a 100-record reference has no two disjoint 60-record … 40-record parts
    again = NullCache(calc, 50, seed=0)
    again.restore(cache.state())
    assert again.get("text", 30) == null
    assert NullCache(calc, 50, seed=1).get("text", 30) != null


def _stationary_run(shift: float, n_windows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cfg = MonitorConfig(WindowSpec.parse("30"), EvalConfig(divergence="rjsd", n_resamples=30), n_null=200,
                        min_references=10, alpha=0.05)
    calc = make_calc(gaussian_rows(240, rng, prefix="r"), cfg)
    cache = NullCache(calc, cfg.n_null, seed)
    watched = [t for t in cfg.alert_terms if t in calc.terms]
    thresholds = {t: cache.get(t, 30).threshold(cfg.term_alpha) for t in watched}
    point = {t: 0 for t in watched}
    lcb = {t: 0 for t in watched}
    any_window = 0
    for k in range(n_windows):
        stats = calc.window(gaussian_rows(30, rng, shift=shift, prefix=f"w{k}-"), seed=k)
        over = False
        for t in watched:
            v = stats.values[t]
            point[t] += v.value > thresholds[t]
            lcb[t] += v.low > thresholds[t]
            over |= v.value > thresholds[t]  # the monitor's rule: p ≤ the per-term level ⇔ estimate > threshold
        any_window += over
    return cfg, watched, point, lcb, any_window


@pytest.mark.slow
def test_false_alarm_rate_on_a_stationary_stream_is_below_the_stated_level():
    n = 300
    cfg, watched, point, lcb, any_window = _stationary_run(0.0, n)
    assert set(watched) == {"visual", "text", "answer", "output_shift", "emid"}
    # each term's *estimate* is over its threshold with probability ≤ α/T = 0.01: over 300 windows that is
    # 3 on average; 9 or more would happen with probability < 0.003 if the thresholds were right
    assert all(c <= 8 for c in point.values()), point
    for t in watched:
        assert lcb[t] <= point[t]  # the lower bound is never above the estimate
    # one decision per window at level α (Šidák over the five terms): 15 windows expected of 300; allow 3 sd
    assert any_window / n <= cfg.alpha + 3 * math.sqrt(cfg.alpha * (1 - cfg.alpha) / n), (any_window, n)


@pytest.mark.slow
def test_a_shifted_stream_is_over_the_thresholds():
    _, _, point, lcb, any_window = _stationary_run(1.0, 30)
    assert lcb["text"] >= 27 and any_window == 30  # the questions moved: their lower bound is over in every window
    assert point["answer"] >= 27 and point["output_shift"] >= 20  # the answers moved too (noisier answers)


def test_p_value_counts_the_observation_among_the_draws():
    null = NullDistribution("text", 10, tuple(float(v) for v in range(1, 100)))  # N = 99 draws 1 … 99
    assert null.p_value(99.5) == pytest.approx(1 / 100)  # above every draw: the smallest p, 1/(N + 1), never 0
    assert null.p_value(99.0) == pytest.approx(2 / 100)  # ties count as "at least as large"
    assert null.p_value(95.0) == pytest.approx(6 / 100)
    assert null.p_value(0.0) == 1.0 and null.p_value(float("nan")) == 1.0
    # p ≤ a exactly when the estimate is above the conformal threshold (the critical value shown in the series)
    for a in (0.05, 0.02, 0.011):
        for x in np.linspace(80, 100, 81):
            assert (null.p_value(x) <= a) == (x > null.threshold(a)), (a, x)
    # valid for exchangeable draws: P(p ≤ a) = ⌊a(N + 1)⌋/(N + 1) ≤ a (here a = 0.05, N = 99: exactly 0.05)
    rng = np.random.default_rng(3)
    hits = sum(NullDistribution("t", 1, tuple(rng.normal(size=99))).p_value(rng.normal()) <= 0.05
               for _ in range(4000))
    assert abs(hits / 4000 - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / 4000)


def _window_p_values(n_refs: int, n_windows: int) -> list[dict[str, float]]:
    """Per-term p-values of no-shift windows (30 records) against ``n_refs`` independent references (210
    records each, 200 null draws): the randomness of a run's null is part of what a user meets."""
    out = []
    for r in range(n_refs):
        rng = np.random.default_rng(100 + r)
        cfg = MonitorConfig(WindowSpec.parse("30"), EvalConfig(divergence="rjsd", n_resamples=2, seed=r),
                            terms=("visual", "text", "answer"), alert_terms=("visual", "text", "answer"), n_null=200)
        calc = make_calc(gaussian_rows(210, rng, prefix="r"), cfg, mi=None)
        cache = NullCache(calc, 200, seed=r)
        for k in range(n_windows):
            stats = calc.window(gaussian_rows(30, rng, prefix=f"w{r}-{k}-"), seed=k)
            out.append({t: cache.get(t, 30).p_value(stats.values[t].value) for t in calc.jsd_terms})
    return out


@pytest.mark.slow
def test_run_length_to_a_false_alarm_on_a_no_shift_stream_matches_the_stated_ert():
    from mllmshift.monitor.alerts import AlertRule

    windows = _window_p_values(4, 150)
    for k in (1, 2):
        cfg = MonitorConfig(WindowSpec.parse("30"), terms=("visual", "text", "answer"),
                            alert_terms=("visual", "text", "answer"), ert=20, consecutive=k)
        rule = AlertRule(cfg.alert_terms, k)
        alarms = sum(bool(rule.update({t: p <= cfg.term_alpha for t, p in w.items()})) for w in windows)
        # ERT 20 over 600 windows: 30 alarms if the level were exact; Šidák is conservative for the correlated
        # image/question terms, so fewer. Poisson spread ≈ √30 ≈ 5.5: [15, 45] alarms ⇔ run length 13–40 windows
        assert 15 <= alarms <= 45, (k, alarms, len(windows) / max(alarms, 1))
