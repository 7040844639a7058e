"""Typed results: JSON round trips, flat rows, sign stability, strict JSON."""

from __future__ import annotations

import json
import math

import pytest

from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.results import CSV_FIELDS, SCHEMA, ScenarioResult, SplitResult, StudyResult
from mllmshift.metrics import BoundResult, EMIResult, Interval


def _interval(lo, hi):
    return Interval(lo, hi, 0.1, 50, 7, 0.9)


def _scenario(name="frost_3", emid=0.4, members=(0.3, 0.5), ci=(0.1, 0.7), partial=False):
    shifted = SplitResult(name, 20, None if partial else EMIResult(-0.2, 1.0, 1.2, 20, math.log(20), (-0.1, -0.3)),
                          None if partial else _interval(-0.5, 0.1), 0.9 if partial else None)
    bound = BoundResult(None if partial else 1.5, 0.1, 0.2, 0.05, None if partial else 0.3, "scale-adjusted", None,
                        {"text": "rjsd"})
    return ScenarioResult(name, "visual", "grid", 20, shifted, bound, None if partial else emid,
                          () if partial else members, None if partial else _interval(*ci), 0.12, partial, not partial,
                          ("a note",), {"visual": "frost", "severity": 3})


def test_sign_stability_needs_agreeing_members_and_an_interval_off_zero():
    assert _scenario().sign_stable is True and _scenario().members_agree is True
    assert _scenario(members=(0.3, -0.1)).sign_stable is False  # a member disagrees
    assert _scenario(ci=(-0.05, 0.7)).sign_stable is False  # the interval includes 0
    assert _scenario(emid=-0.4, members=(-0.3, -0.5), ci=(-0.7, -0.1)).sign_stable is True
    assert _scenario(partial=True).sign_stable is None


@pytest.mark.parametrize("partial", [False, True])
def test_scenario_json_round_trip_and_row(partial):
    s = _scenario(partial=partial)
    again = ScenarioResult.from_json(json.loads(json.dumps(s.to_json())))
    assert again == s and again.to_json() == s.to_json()
    row = s.to_row()
    assert set(row) == set(CSV_FIELDS) - {"win_rate", "relative_score"}
    if partial:
        assert row["emi"] is None and row["emid"] is None and row["mi_response"] == 0.9 and row["bound"] is None
    else:
        assert (row["emi"], row["emid"], row["emid_low"], row["sign_stable"]) == (-0.2, 0.4, 0.1, True)
        assert row["mi_reference"] == 1.2 and row["severity"] == 3


def test_study_json_is_strict_and_round_trips(tmp_path):
    ident = SplitResult("id", 20, EMIResult(0.2, 1.2, 1.0, 20, None, (0.2,)), _interval(0.0, 0.4))
    result = StudyResult("t", EvalConfig(text_encoder="hashing-bow", seed=4), ident,
                         (_scenario(), _scenario("wild", partial=True)), study={"correlation_resamples": 9},
                         judge={"frost_3": {"win_rate": 0.5}}, run={"wall_s": math.nan})
    d = result.to_json()
    assert d["schema"] == SCHEMA and d["run"]["wall_s"] is None  # non-finite → null
    assert d["config"]["eval"]["seed"] == 4 and d["config"]["correlation_resamples"] == 9
    json.dumps(d, allow_nan=False)
    back = StudyResult.from_json(json.loads(json.dumps(d)))
    assert back.scenarios == result.scenarios and back.id == result.id and back.config == result.config
    assert back.summary == result.summary and back.summary["n_partial"] == 1
    rows = result.rows()
    assert rows[0]["win_rate"] == 0.5 and rows[1]["win_rate"] is None
    result.write_csv(tmp_path / "s.csv")
    header = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == CSV_FIELDS
    assert result.to_row()["n_complete"] == 1 and result.scenario("wild").partial
    with pytest.raises(KeyError, match="no scenario 'x'"):
        result.scenario("x")
