"""Per-scenario judge scores for a study: `mllmshift judge` summaries, CSV and JSON tables."""

from __future__ import annotations

import json

import pytest

from mllmshift.errors import DataError
from mllmshift.judge.scores import load_judge_scores


def test_judge_summaries_folder_is_read_through_the_judge_reader(tmp_path):
    for name, rel, win in (("frost_1", 0.93, 0.41), ("frost_3", 0.71, 0.22)):
        (tmp_path / f"{name}.summary.json").write_text(json.dumps(
            {"scenario": name, "relative_score": rel, "win_rate": win, "win_rate_ci": [0.1, 0.5], "n": 36}))
    assert load_judge_scores(tmp_path) == {"frost_1": {"win_rate": 0.41, "relative_score": 0.93},
                                           "frost_3": {"win_rate": 0.22, "relative_score": 0.71}}


def test_judge_csv_errors_are_located(tmp_path):
    from mllmshift.errors import DataError
    p = tmp_path / "j.csv"
    p.write_text("scenario,win_rate\nfrost_1,0.4\nfrost_3,lots\n")
    with pytest.raises(DataError) as err:
        load_judge_scores(p)
    assert (err.value.line, err.value.field) == (3, "win_rate")


def test_judge_json_list_and_mapping(tmp_path):
    listed = tmp_path / "j.json"
    listed.write_text(json.dumps([{"scenario": "a", "win_rate": 0.5}, {"scenario": "b", "win_rate": "0.25"}]))
    assert load_judge_scores(listed) == {"a": {"win_rate": 0.5}, "b": {"win_rate": 0.25}}
    mapped = tmp_path / "m.json"
    mapped.write_text(json.dumps({"a": {"relative_score": 81.0}}))
    assert load_judge_scores(mapped) == {"a": {"relative_score": 81.0}}
    with pytest.raises(DataError, match="not found"):
        load_judge_scores(tmp_path / "none.csv")
