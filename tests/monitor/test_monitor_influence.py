"""The linearised bootstrap (mllmshift.monitor.influence): RJSD's derivative in each record's weight against
finite differences of the estimator itself, its standard error against the resampled one, and the fast path
against the resampled path on both replays (same estimates, p-values and alerts; intervals to a tolerance)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from monitor_helpers import fast_eval
from test_monitor_terms import gaussian_rows, make_calc

from mllmshift.estimators.divergence.rjsd import rjsd
from mllmshift.evaluation.config import EvalConfig
from mllmshift.monitor.config import MonitorConfig, WindowSpec
from mllmshift.monitor.influence import WeightedRJSD, counts, influence_parts, rjsd_influence


@pytest.mark.parametrize("na,nb,d", [(30, 10, 16), (300, 100, 64), (60, 50, 8)])  # dual and primal forms
def test_derivative_matches_finite_differences_of_the_weighted_estimator(na, nb, d):
    rng = np.random.default_rng(d)
    a, b = rng.normal(size=(na, d)) + 0.3, rng.normal(size=(nb, d)) * 1.2 + 0.5
    value, g_a, g_b = rjsd_influence(a, b, grad_a=True)
    assert value == pytest.approx(rjsd(a, b), abs=1e-12)
    assert abs(g_a.sum()) < 1e-12 and abs(g_b.sum()) < 1e-12  # scale invariance: Σ g = 0
    h = 1e-5
    for i in (0, 3, nb - 1):  # weight w on a record = its row scaled by √w in ZᵀZ
        up, down = np.ones(nb), np.ones(nb)
        up[i], down[i] = 1 + h, 1 - h
        fd = (rjsd(a, b * np.sqrt(up)[:, None]) - rjsd(a, b * np.sqrt(down)[:, None])) / (2 * h)
        assert g_b[i] == pytest.approx(fd, rel=1e-5, abs=1e-9)
        up, down = np.ones(na), np.ones(na)
        up[i], down[i] = 1 + h, 1 - h
        fd = (rjsd(a * np.sqrt(up)[:, None], b) - rjsd(a * np.sqrt(down)[:, None], b)) / (2 * h)
        assert g_a[i] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_counts_of_a_bootstrap_index_matrix():
    boot = np.array([[0, 0, 2], [1, 2, 2]])
    assert counts(boot, 4).tolist() == [[2, 0, 1, 0], [0, 1, 2, 0]]


def test_linearised_terms_equal_the_resampled_estimates_with_close_standard_errors():
    rng = np.random.default_rng(5)
    ref = gaussian_rows(240, rng, prefix="r")
    base = MonitorConfig(WindowSpec.parse("40"), EvalConfig(divergence="rjsd", n_resamples=200), min_references=10)
    fast, slow = make_calc(ref, base), make_calc(ref, base.with_(ci="resampled"))
    assert fast.linearised and not slow.linearised
    ratios: dict[str, list[float]] = {}
    for k in range(6):
        w = gaussian_rows(40, rng, shift=0.3 * (k % 3), prefix=f"w{k}-")
        f, s = fast.window(w, seed=k), slow.window(w, seed=k)
        assert set(f.values) == set(s.values)
        for t, v in s.values.items():
            # the estimator's own value on both paths (the linearised path's from the slopes' eigenvalue
            # problems where the estimator's are the same: equal up to rounding)
            assert f.values[t].value == pytest.approx(v.value, rel=1e-9, abs=1e-12), t
            if t in ("emi", "emid"):  # not linearised: identical
                assert (f.values[t].low, f.values[t].high) == pytest.approx((v.low, v.high), abs=1e-9)
            elif v.low is not None:
                ratios.setdefault(t, []).append((f.values[t].high - f.values[t].low) / (v.high - v.low))
    # 200 resamples estimate an SE to ±5 %; the control-variate draws (10 exact, 190 first-order) to ±20 %
    for t, r in ratios.items():
        assert all(0.6 <= x <= 1.5 for x in r), (t, r)
        assert abs(float(np.mean(r)) - 1.0) <= 0.15, (t, r)


def _replay_series(plan, tmp_path, ci, **cfg):
    from mllmshift.io import read_split
    from mllmshift.monitor import Monitor
    from mllmshift.monitor.series import read_series

    ref_path, stream = plan.write(tmp_path / f"replay-{ci}")
    config = MonitorConfig(WindowSpec.parse(str(plan.window)), consecutive=1, ci=ci, **cfg)
    mon = Monitor(config, read_split(ref_path), stream, tmp_path / f"out-{ci}", log=None, alert_stream=io.StringIO(),
                  refresh_s=1e9)
    mon.run_once()
    return read_series(tmp_path / f"out-{ci}" / "series.jsonl")


def _same_series(fast, slow):
    """Estimates, p-values, thresholds and z equal (to 1e-9 relative: rounding), over flags and alerts identical;
    each interval's width within 0.55–1.6 of the resampled one (30 resamples estimate an SE to ±13 %) and on
    average over the windows within 20 %."""
    assert len(fast) == len(slow) > 0
    ratios: dict[str, list[float]] = {}
    for f, s in zip(fast, slow):
        for col, v in s.items():
            if col.endswith(("_low", "_high")):
                term = col.rsplit("_", 1)[0]
                if col.endswith("_low") and v is not None and s[f"{term}_high"] > v:
                    ratios.setdefault(term, []).append((f[f"{term}_high"] - f[col]) / (s[f"{term}_high"] - v))
            elif isinstance(v, float):
                assert f[col] == pytest.approx(v, rel=1e-9, abs=1e-12), (s["window"], col)  # rounding
            else:
                assert f[col] == v, (s["window"], col)
    assert ratios
    for term, r in ratios.items():
        assert all(0.55 <= x <= 1.6 for x in r), (term, r)
        assert abs(float(np.mean(r)) - 1.0) <= 0.2, (term, r)


@pytest.mark.slow
def test_fast_path_gives_the_same_series_and_alerts_on_the_synthetic_replay(tmp_path):
    from mllmshift.monitor.replay import synthetic_plan

    plan = synthetic_plan(0)
    ev = fast_eval(text_encoder=fast_eval().text_encoder.__class__("hashing-bow", {"dim": 64}))
    fast = _replay_series(plan, tmp_path, "linearised", eval=ev, n_null=100)
    slow = _replay_series(plan, tmp_path, "resampled", eval=ev, n_null=100)
    _same_series(fast, slow)
    assert [r["alerts"] for r in fast] == [r["alerts"] for r in slow] and fast[6]["alerts"]


@pytest.mark.slow
@pytest.mark.shared
def test_fast_path_gives_the_same_series_and_alerts_on_the_llava_bench_replay(tmp_path, shared_data):
    from mllmshift.monitor.replay import llava_plan

    plan = llava_plan(shared_data, "llava-bench")
    ev = fast_eval(text_encoder=fast_eval().text_encoder.__class__("hashing-bow", {"dim": 64}))
    fast = _replay_series(plan, tmp_path, "linearised", eval=ev, n_null=100)
    slow = _replay_series(plan, tmp_path, "resampled", eval=ev, n_null=100)
    _same_series(fast, slow)
    assert [r["alerts"] for r in fast] == [r["alerts"] for r in slow]
    assert math.isfinite(fast[-1]["text"])


@pytest.mark.parametrize("n,d", [(40, 16), (10, 64)])  # the estimator's d × d path (float32 products), its row Gram
def test_the_slopes_pass_value_is_the_estimators_own(n, d):
    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, d)).astype(np.float32)
    b = (rng.normal(size=(n + 5, d)) * 1.3 + 0.2).astype(np.float32)
    for grad_a in (False, True):
        value, g_a, g_b, _ = influence_parts(a, b, grad_a=grad_a)
        assert value == pytest.approx(rjsd(a, b), rel=1e-12, abs=1e-14)
        assert (g_a is not None) == grad_a and abs(float(g_b.sum())) < 1e-6 * float(np.abs(g_b).sum())


def test_an_all_zero_sample_is_refused_with_its_reason():
    b = np.ones((4, 3))
    for call in (lambda: WeightedRJSD(np.zeros((5, 3)), b), lambda: influence_parts(np.zeros((5, 3)), b)):
        with pytest.raises(ValueError, match="all zeros"):
            call()
