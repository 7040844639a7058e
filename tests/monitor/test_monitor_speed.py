"""The one-pass window statistics (issue #23 item 1) against a naive reference path kept here: the same series
and alerts on both replays, and each exact resample equal to the estimator on the records repeated.

The naive path is the monitor's statistics before the speed-up, written plainly: each drift term's value from
the estimator (``TermCalculator.jsd``), its slopes from :func:`rjsd_influence`, each exact resample the estimator
on the window's rows repeated by their draw counts, and the output term's resamples the estimator on the
resampled labelled records. The fast path (``TermCalculator``) shares the eigenvalue problems of a term's value,
slopes and resamples, re-weights rows instead of repeating them, and runs the resamples on the run's threads.
Tolerance: estimates, thresholds, p-values and z to 1e-9 relative (rounding); interval ends to 1e-3 of the naive
interval's width (+ 1e-7): the fast path's exact resamples take their eigenvalues in float32
(``control_variate.EXACT_SINGLE``; the naive ones run the estimator in float64, on a float32 Gram product where it is
d × d), which moves a width by ≤ 3e-4 of itself on 512-d rows, against the width's own Monte-Carlo error of
about 10 % (50 draws); everything else identical, alerts included. Each single-precision resample is checked
against the double-precision one (``test_single_precision_resamples_are_the_double_ones_to_rounding``).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from monitor_helpers import fast_eval

from mllmshift.components import Component
from mllmshift.estimators.divergence.rjsd import rjsd
from mllmshift.monitor import runner
from mllmshift.monitor.config import MonitorConfig, WindowSpec
from mllmshift.monitor.embed import Rows
from mllmshift.monitor.control_variate import EXACT_DRAWS, Linearised, with_residuals
from mllmshift.monitor.influence import PairedWeightedRJSD, WeightedRJSD, counts, eigenvalues, rjsd_influence
from mllmshift.monitor.terms import TermCalculator
from mllmshift.workers import Tasks


#: the terms the comparison computes: every one whose statistics the speed-up changed (EMI's are not: without
#: them no MI estimator is fitted and no EMI null drawn, which keeps the test fast)
TERMS = ("text", "answer", "output", "output_shift", "bound")


class NaiveTermCalculator(TermCalculator):
    """The reference path (module docstring)."""

    def _jsd_draws(self, a: np.ndarray, w: np.ndarray, c: np.ndarray, tasks: Tasks) -> Linearised:
        value = max(0.0, float(self.div.divergence(a, w)))
        _, _, g = rjsd_influence(a, w)
        exact = [max(0.0, float(self.div.divergence(a, np.repeat(w, ci.astype(np.int64), axis=0))))
                 for ci in c[:EXACT_DRAWS]]
        return Linearised.done(value, with_residuals(value + (c - 1.0) @ g, exact))

    def _output_draws(self, w: Rows, lab: np.ndarray, c_all: np.ndarray, tasks: Tasks) -> Linearised:
        out_w = self.output(w.take(lab))
        _, g_a, g_b = rjsd_influence(w.response[lab], w.reference[lab], grad_a=True)
        assert g_a is not None
        c = c_all[:, lab]
        boot = [np.repeat(np.arange(len(w)), k.astype(np.int64)) for k in c_all]  # a resample's records
        lin = np.maximum(0.0, out_w ** 4 + (c - 1.0) @ (g_a + g_b)) ** 0.25
        exact = [self.output(w.take(b[w.labelled[b]])) if int(w.labelled[b].sum()) >= 2 else np.nan
                 for b in boot[:EXACT_DRAWS]]
        return Linearised.done(out_w, np.where(c.sum(axis=1) >= 2, with_residuals(lin, exact), np.nan))


@pytest.mark.parametrize("na,nb,d", [(30, 10, 16), (60, 50, 8), (60, 50, 40)])  # dual, primal, primal + dual own
def test_each_weighted_resample_equals_the_estimator_on_repeated_rows(na, nb, d):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(na, d)).astype(np.float32) + 0.3
    b = (rng.normal(size=(nb, d)) * 1.2 + 0.5).astype(np.float32)
    c = counts(rng.integers(0, nb, size=(5, nb)), nb)
    one, paired = WeightedRJSD(a, b), PairedWeightedRJSD(a[:nb], b)
    for ci, got, got_paired in zip(c, [one(ci) for ci in c], (paired(x) for x in c)):
        rep = ci.astype(np.int64)
        assert got == pytest.approx(rjsd(a.astype(np.float64), np.repeat(b, rep, axis=0).astype(np.float64)),
                                    rel=1e-9, abs=1e-12)
        want = rjsd(np.repeat(a[:nb], rep, axis=0).astype(np.float64), np.repeat(b, rep, axis=0).astype(np.float64))
        assert got_paired == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("na,nb,d", [(300, 100, 512), (60, 50, 40), (30, 80, 24)])  # dual, primal + dual own, primal
def test_single_precision_resamples_are_the_double_ones_to_rounding(na, nb, d):
    rng = np.random.default_rng(na)
    scale = np.arange(1, d + 1) ** -0.7  # a decaying spectrum, as text embeddings have
    a = (rng.normal(size=(na, d)) * scale).astype(np.float32)
    b = (rng.normal(size=(nb, d)) * scale + 0.02).astype(np.float32)
    r = (b + rng.normal(size=b.shape) * scale * 0.5).astype(np.float32)  # b's paired rows (the output term)
    c = counts(rng.integers(0, nb, size=(6, nb)), nb)
    pairs = [(WeightedRJSD(a, b), WeightedRJSD(a, b, single=True)),
             (PairedWeightedRJSD(b, r), PairedWeightedRJSD(b, r, single=True))]
    for double, single in pairs:
        got, want = np.array([single(ci) for ci in c]), np.array([double(ci) for ci in c])
        assert np.abs(got - want).max() < 1e-5 * max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() < 1e-2 * want.std()  # far below the resamples' spread
    one = WeightedRJSD(a, b, single=True)
    assert one(c[0]) == WeightedRJSD.combine(one.s_a, *one.parts(c[0]))  # type: ignore[arg-type]


def test_single_precision_eigenvalues_leave_the_callers_float32_matrix_alone():
    x = np.random.default_rng(0).normal(size=(30, 40)).astype(np.float32)
    k = x @ x.T
    before = k.copy()
    lam = eigenvalues(k, single=True)
    np.testing.assert_array_equal(k, before)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(k.astype(np.float64)), rtol=0, atol=1e-5 * float(lam.max()))
    from scipy.linalg import lapack

    for n in (1, 7, 90):  # the ctypes call is scipy's own ssyevr (the wrapper holds the GIL): the same bits
        z = np.random.default_rng(n).normal(size=(n, 120)).astype(np.float32)
        g = z @ z.T
        np.testing.assert_array_equal(eigenvalues(g, single=True), lapack.ssyevr(g.T, compute_v=0)[0])


def _naive_emi_terms(self, out, wl, m, own, rng, seed):
    """The EMI terms before the one-pass change: ``metrics.emi`` and ``metrics.bootstrap_emi`` apart."""
    from mllmshift.metrics import bootstrap_emi
    from mllmshift.monitor.terms import TermValue, standard_interval

    value = self.emi(wl)
    ci = bootstrap_emi(wl.x, wl.response, wl.reference, self.ref.members, n_resamples=self.cfg.n_bootstrap,
                       seed=seed, confidence=self.cfg.confidence, scheme=self.cfg.eval.bootstrap_scheme)
    low, high = standard_interval(value, ci.std, self.cfg.confidence)
    if "emi" in self.terms:
        out.values["emi"] = TermValue(value, low, high)
    if "emid" in self.terms:
        why = self.labelled_feasible(m, "emid")
        if why is not None:
            out.notes.append(why)
            return
        base = self.emi(self._sample(self.ref.calibration, m, own, rng))
        out.values["emid"] = TermValue(base - value, base - high, base - low)


def _naive_emi(self, w):
    """EMI before the one-pass change (the nulls' draws and emid's baseline use it too)."""
    from mllmshift.metrics import emi

    return emi(w.x, w.response, w.reference, self.ref.members).value


NaiveTermCalculator._emi_terms = _naive_emi_terms  # type: ignore[method-assign]
NaiveTermCalculator.emi = _naive_emi  # type: ignore[method-assign]


def _series(plan, tmp_path, name, threads, terms=TERMS, **eval_changes):
    from mllmshift.io import read_split
    from mllmshift.monitor import Monitor
    from mllmshift.monitor.series import read_series

    ref_path, stream = plan.write(tmp_path / f"replay-{name}")
    ev = fast_eval(text_encoder=fast_eval().text_encoder.__class__("hashing-bow", {"dim": 64}), threads=threads,
                   **eval_changes)
    config = MonitorConfig(WindowSpec.parse(str(plan.window)), ev, consecutive=1, n_null=100, terms=terms,
                           alert_terms=tuple(t for t in ("text", "answer", "output_shift", "emid") if t in terms))
    mon = Monitor(config, read_split(ref_path), stream, tmp_path / f"out-{name}", log=None,
                  alert_stream=io.StringIO(), refresh_s=1e9)
    mon.run_once()
    return read_series(tmp_path / f"out-{name}" / "series.jsonl")


def _check_same(fast, naive, width_tol=1e-3):
    """Every column equal (floats to the module docstring's tolerance; interval ends to ``width_tol`` of the
    naive interval's width), alerts identical."""
    assert len(fast) == len(naive) > 0
    for f, s in zip(fast, naive):
        assert set(f) == set(s)
        for col, v in s.items():
            if isinstance(v, float):
                if col.endswith(("_low", "_high")):
                    term = col.rsplit("_", 1)[0]
                    width = s[f"{term}_high"] - s[f"{term}_low"]
                    tol = {"rel": 1e-6, "abs": width_tol * width + 1e-7}
                else:
                    tol = {"rel": 1e-9, "abs": 1e-12}
                assert f[col] == pytest.approx(v, **tol), (s["window"], col)
            else:
                assert f[col] == v, (s["window"], col)
    assert [r["alerts"] for r in fast] == [r["alerts"] for r in naive]


def _compare(plan, tmp_path, monkeypatch, **kw):
    fast = _series(plan, tmp_path, "fast", threads=2, **kw)  # the resamples on 2 threads: the same values
    monkeypatch.setattr(runner, "TermCalculator", NaiveTermCalculator)
    naive = _series(plan, tmp_path, "naive", threads=1, **kw)
    _check_same(fast, naive)
    return fast


@pytest.mark.slow
def test_one_pass_statistics_give_the_naive_series_and_alerts_on_the_synthetic_replay(tmp_path, monkeypatch):
    from mllmshift.monitor.replay import synthetic_plan

    fast = _compare(synthetic_plan(0, n_id=300, n_per_level=100), tmp_path, monkeypatch)
    assert fast[3]["alerts"] and not any(r["alerts"] for r in fast[:3])  # the change is at window 3


@pytest.mark.slow
@pytest.mark.shared
def test_one_pass_statistics_give_the_naive_series_and_alerts_on_the_llava_bench_replay(
        tmp_path, monkeypatch, shared_data):
    from mllmshift.monitor.replay import llava_plan

    fast = _compare(llava_plan(shared_data, "llava-bench"), tmp_path, monkeypatch)
    assert any(r["text"] is not None for r in fast)


#: the EMI comparison: a small default-shaped CLUB ensemble (its one-pass estimate and draws are what changed)
EMI_TERMS = ("text", "emi", "emid")
SMALL_CLUB = {"estimator": Component("club", {"hidden_size": 16, "max_epochs": 3}), "n_estimators": 2}


@pytest.mark.slow
def test_one_pass_emi_gives_the_naive_series_and_alerts_on_the_synthetic_replay(tmp_path, monkeypatch):
    from mllmshift.monitor.replay import synthetic_plan

    fast = _compare(synthetic_plan(0, n_id=300, n_per_level=100), tmp_path, monkeypatch, terms=EMI_TERMS,
                    **SMALL_CLUB)
    assert all(r["emi"] is not None and r["emid_low"] is not None for r in fast)


@pytest.mark.slow
@pytest.mark.shared
def test_one_pass_emi_gives_the_naive_series_and_alerts_on_the_llava_bench_replay(
        tmp_path, monkeypatch, shared_data):
    from mllmshift.monitor.replay import llava_plan

    fast = _compare(llava_plan(shared_data, "llava-bench"), tmp_path, monkeypatch, terms=EMI_TERMS, **SMALL_CLUB)
    assert any(r["emi"] is not None for r in fast)


def test_draw_counts_equal_a_plain_count_of_each_resample():
    from mllmshift.resampling import multinomial_counts

    boot = np.random.default_rng(3).integers(0, 7, size=(5, 7))
    want = np.array([[np.sum(b == i) for i in range(7)] for b in boot], dtype=np.float64)
    np.testing.assert_array_equal(counts(boot, 7), want)
    idx = np.random.default_rng(4).integers(0, 6, size=(4, 6))  # multinomial_counts' own draws, counted plainly
    want = np.array([[np.sum(b == i) for i in range(6)] for b in idx], dtype=np.float64)
    np.testing.assert_array_equal(multinomial_counts(6, 4, np.random.default_rng(4)), want)
