"""The stated expected run time (ERT) between false alarms, checked by renewal counting: after each alarm the
k-consecutive rule restarts, so over W windows with A alarms the mean run length is W / A.

Two checks: the closed form ERT(q, k) against the monitor's :class:`AlertRule` on independent Bernoulli(q)
over-flags (pure arithmetic, tight), and the whole decision (same-size nulls, permutation p-values, Šidák's
split of q(ERT, k), the k-rule) on a seeded no-shift Gaussian stream whose three terms are independent, so
that Šidák's split is exact and the stated ERT is what the stream should show."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.estimators.defaults import build_divergence
from mllmshift.evaluation.config import EvalConfig
from mllmshift.monitor.alerts import AlertRule
from mllmshift.monitor.calibration import expected_run_length, window_level
from mllmshift.monitor.config import MonitorConfig, WindowSpec
from mllmshift.monitor.embed import Rows
from mllmshift.monitor.null import NullCache
from mllmshift.monitor.terms import Reference, TermCalculator, split_reference

TERMS = ("visual", "text", "answer")


def renewal_alarms(over: list[bool], k: int) -> int:
    """Alarms of the monitor's k-rule when it restarts after each one (the renewal count)."""
    rule, alarms = AlertRule(("w",), k), 0
    for o in over:
        if rule.update({"w": o}):
            alarms += 1
            rule.restore({"window": 0})
    return alarms


@pytest.mark.parametrize(("q", "k"), [(0.05, 1), (0.2, 2), (0.4, 3)])
def test_renewal_run_length_of_the_k_rule_matches_the_closed_form(q, k):
    ert = expected_run_length(q, k)  # 20, 30, 24.4 windows
    flags = list(np.random.default_rng(k).random(40_000) < q)
    alarms = renewal_alarms(flags, k)
    # run lengths are i.i.d. with mean ERT and sd ≤ ERT: W / A has a standard error ≤ ERT^1.5 / √W; allow 4
    assert abs(len(flags) / alarms - ert) <= 4 * ert ** 1.5 / math.sqrt(len(flags)), (q, k, len(flags) / alarms, ert)
    assert window_level(ert, k) == pytest.approx(q, rel=1e-9)


def _independent_rows(n: int, rng: np.random.Generator, prefix: str) -> Rows:
    """Images, questions and answers drawn independently (Gaussian, 4-d): the three drift terms are independent."""
    f = lambda: rng.normal(size=(n, 4)).astype(np.float32) + 1.0  # noqa: E731
    return Rows(tuple(f"{prefix}{i}" for i in range(n)), f(), f(), f(), np.ones(n, bool), f(), "concat")


def test_run_length_on_a_seeded_no_shift_stream_is_the_stated_ert():
    """360 windows of 20 records against 30 references of 400 (each with its own 57 null draws: the monitor's
    p-values are valid on average over references, so many short runs): ERT 10 at k = 1 and k = 2."""
    ert, n = 10.0, 20
    runs: list[list[dict[str, float]]] = []
    for r in range(30):
        rng = np.random.default_rng(200 + r)
        cfg = MonitorConfig(WindowSpec.parse(str(n)), EvalConfig(divergence="rjsd", n_resamples=2, seed=r),
                            terms=TERMS, alert_terms=TERMS, n_null=57)
        ref = _independent_rows(400, rng, "r")
        calc = TermCalculator(Reference(ref, *split_reference(ref, r)), cfg, build_divergence("rjsd"))
        nulls = NullCache(calc, cfg.n_null, r)
        runs.append([])
        for j in range(12):
            stats = calc.window(_independent_rows(n, rng, f"w{j}-"), seed=j)
            runs[-1].append({t: nulls.get(t, n).p_value(stats.values[t].value) for t in TERMS})
    for k in (1, 2):
        a = MonitorConfig(WindowSpec.parse(str(n)), terms=TERMS, alert_terms=TERMS, ert=ert, consecutive=k).term_alpha
        alarms = sum(renewal_alarms([any(p[t] <= a for t in TERMS) for p in run], k) for run in runs)
        # 360 windows at ERT 10: 36 alarms expected (35.5 at k = 2 on the p-values' grid of 1/58: q 0.360, not
        # 0.370). Poisson spread √36 = 6, ±3 of them: run lengths 6.7–18 windows against the stated 10.
        # (With references of 100 = 5 windows the p-values are anti-conservative, 56 alarms at k = 1: the
        # null splits R, while a fresh window meets R's own sampling error; n_R ≫ n makes that small.)
        assert 18 <= alarms <= 54, (k, alarms, 360 / max(alarms, 1))
