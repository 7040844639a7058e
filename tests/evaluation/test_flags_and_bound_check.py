"""No MI above ln n without a flag; the bound is checked in both forms and a constructed violation is flagged
in the typed result, the summary, results.json and the report; a JSD term below its resolution reads "< r"."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mllmshift.bound import _assemble, check_bound, conservative_entropy_scale
from mllmshift.estimators.base import JSDTerm
from mllmshift.estimators.divergence.debiased_rjsd import RESOLUTION_SDS, DebiasedRJSD
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.results import ScenarioResult, SplitResult, StudyResult
from mllmshift.metrics import BoundResult, EMIResult, Interval, data_limit


def _bound(v=0.1, t=0.2, p=0.05, q=0.3, terms=None) -> BoundResult:
    return BoundResult(_assemble(v, t, p, q, None).value, v, t, p, q, "scale-adjusted", None, {"text": "rjsd"}, terms)


def _scenario(emid: float, bound: BoundResult, mi_response: float = 1.0, n: int = 90) -> ScenarioResult:
    emi = EMIResult(mi_response - 1.2, mi_response, 1.2, n, None, (mi_response - 1.2,))
    shifted = SplitResult("s", n, emi, Interval(-1, 1, 0.1, 50, 7, 0.95))
    return ScenarioResult("s", "visual", "grid", n, shifted, bound, emid, (emid,), Interval(emid - 0.1, emid + 0.1,
                          0.05, 50, 7, 0.95))


def test_an_mi_above_ln_n_is_flagged_everywhere():
    ok = EMIResult(0.1, 4.4, 4.3, 90, None)
    bad = EMIResult(4.73, 9.13, 4.4, 90, None)
    assert data_limit(90) == pytest.approx(math.log(90))
    assert not ok.above_data_limit and not ok.flags and "!" not in ok.shown("mi_response")
    assert bad.above_data_limit and bad.flagged and len(bad.flags) == 1 and "ln 90" in bad.flags[0]
    assert "!" in bad.shown("mi_response") and "!" not in bad.shown("mi_reference")  # 4.4 < ln 90 = 4.4998
    d = bad.to_dict()
    assert d["above_data_limit"] is True and d["data_limit"] == pytest.approx(math.log(90)) and d["flags"]
    s = _scenario(0.0, _bound(), mi_response=9.13)
    assert s.to_row()["mi_above_limit"] is True and any("above ln 90" in f for f in s.flags)
    result = StudyResult("t", EvalConfig(text_encoder="hashing-bow"), SplitResult("id", 90, bad), (s,))
    summ = result.summary
    assert summ["n_mi_above_limit"] == 2 and summ["mi_above_limit"] == ["s"] and summ["id_flags"]
    assert json.loads(json.dumps(result.to_json()))["id"]["emi"]["above_data_limit"] is True


def test_the_bound_check_flags_a_constructed_violation_in_both_forms():
    b = _bound()  # scale-adjusted value √0.2 + √0.1 + 0.05^¼ + 0.3^¼ ≈ 2.00
    held = _scenario(0.5, b)
    assert held.bound_holds() is True and held.bound_holds("theorem") is True and not held.flags
    broken = _scenario(b.value + 0.5, b)
    checks = {c.form: c for c in broken.bound_checks}
    assert not checks["scale-adjusted"].holds
    # the theorem's form with no Ĥ given uses ln n, and says so
    assert checks["theorem"].entropy_source == "ln n"
    assert checks["theorem"].entropy_scale == pytest.approx(conservative_entropy_scale(90))
    want = math.log(90) * (math.sqrt(0.1) + math.sqrt(0.2)) + 4 * (0.05 ** 0.25 + 0.3 ** 0.25)
    assert checks["theorem"].value == pytest.approx(want)
    assert checks["theorem"].holds  # the theorem's form is looser here
    assert any(f.startswith("bound violated (scale-adjusted") for f in broken.flags)
    result = StudyResult("t", EvalConfig(text_encoder="hashing-bow"), SplitResult("id", 90, None), (held, broken))
    summ = result.summary
    assert summ["n_bound_checked"] == 2 and summ["n_bound_violated"] == 1 and summ["n_bound_theorem_violated"] == 0
    j = json.loads(json.dumps(result.to_json()))["scenarios"][1]
    assert [c["holds"] for c in j["emid"]["bound_checks"]] == [False, True] and j["flags"]
    again = ScenarioResult.from_json(j)
    assert again.bound_holds() is False and again.flags == broken.flags
    # a given Ĥ is used as given
    given = check_bound(want + 1.0, BoundResult(None, 0.1, 0.2, 0.05, 0.3, "theorem", 2.0), 90)
    assert given == ()  # no bound value, nothing to check
    bt = BoundResult(_assemble(0.1, 0.2, 0.05, 0.3, 2.0).value, 0.1, 0.2, 0.05, 0.3, "theorem", 2.0)
    c = {c.form: c for c in check_bound(100.0, bt, 90)}
    assert c["theorem"].entropy_source == "given" and c["theorem"].entropy_scale == 2.0 and not c["theorem"].holds


def test_a_term_below_resolution_reads_as_less_than_r_and_widens_the_check():
    t = JSDTerm(0.0, 0.02, 0.0, 0.02)
    b = _bound(v=0.1, t=0.0, terms={"text": t, "visual": JSDTerm(0.1)})
    assert b.below_resolution == ("text",) and b.shown("text") == "<0.02" and b.shown("visual") == "0.1000"
    assert b.high() == pytest.approx(b.value + math.sqrt(0.02))
    s = _scenario(b.value + 0.05, b)  # violated at the point terms, not with the text term at its top
    check = s.bound_checks[0]
    assert not check.holds and check.holds_within_resolution
    assert any("below its estimator's resolution" in f for f in s.flags)
    back = BoundResult.from_dict(json.loads(json.dumps(b.to_dict())))
    assert back == b and back.to_dict()["below_resolution"] == ["text"]


def test_debiased_rjsd_resolution_comes_from_its_null_spread(rng):
    a, b = rng.normal(size=(60, 5)), rng.normal(size=(60, 5))  # P = Q: clipped to 0, below its resolution
    est = DebiasedRJSD(permutations=20, seed=1)
    parts, term = est.estimate(a, b), est.term(a, b)
    assert term.value == parts.value and term.resolution == pytest.approx(RESOLUTION_SDS * parts.null_sd)
    assert term.below_resolution and term.low == 0.0
    assert term.high == pytest.approx(max(parts.raw - parts.null_mean + term.resolution, 0.0))
    far = est.term(a, b + 3.0)  # a clear shift is far above it
    assert not far.below_resolution and far.low > 0.0 and far.low <= far.value <= far.high <= math.log(2)


def test_a_term_below_resolution_whose_interval_ends_below_r_still_reaches_r_at_the_top():
    # rjsd-debiased clips: a raw value under its null mean gives an interval [0, 0] but reads "< r"
    clipped = JSDTerm(0.0, 0.03, 0.0, 0.0)
    b = _bound(v=0.1, t=0.0, terms={"text": clipped, "visual": JSDTerm(0.1)})
    assert b.shown("text") == "<0.03"
    assert b.high() == pytest.approx(b.value + math.sqrt(0.03))
    check = _scenario(b.value + 0.05, b).bound_checks[0]
    assert not check.holds and check.holds_within_resolution  # "still above with every term at its top" is not said
