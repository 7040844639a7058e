"""The one-call API: mllmshift.evaluate / mllmshift.emi on files, lists of dicts, DataFrames and Datasets."""

from __future__ import annotations

import json
import random

import pytest

import mllmshift
from mllmshift.errors import MllmshiftError

WORDS = "red blue green cat dog car tree house sky river boat bird road city field".split()
FAST = {"text_encoder": "hashing-bow", "estimator": {"name": "infonce", "options": {"max_steps": 150}},
        "n_resamples": 30}


def rows(n: int, seed: int, drift: float) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        q = rng.sample(WORDS, 4)
        kept = [w for w in q if rng.random() > drift]
        out.append({"qid": i, "prompt": "what about " + " ".join(q), "answer": " ".join(kept + rng.sample(WORDS, 1)),
                    "gold": " ".join(q[:3])})
    return out


COLUMNS = {"id": "qid", "question": "prompt", "response": "answer", "reference": "gold"}


@pytest.fixture(scope="module")
def in_memory():
    return mllmshift.evaluate(id=rows(50, 0, 0.0), ood={"drift": rows(50, 1, 0.9)}, columns=COLUMNS, **FAST)


def test_evaluate_in_memory_returns_the_typed_study_result(in_memory):
    res = in_memory
    assert isinstance(res, mllmshift.StudyResult) and res.id.name == "id"
    s = res.scenario("drift")
    assert isinstance(s, mllmshift.ScenarioResult) and s.emid == pytest.approx(res.id.value - s.emi, abs=1e-12)
    assert s.emid > 0 and s.emid_ci is not None and s.emid_ci.n_resamples == 30
    assert res.config.estimator.options == {"max_steps": 150}


def test_files_dataframes_and_datasets_give_the_same_numbers(in_memory, tmp_path):
    canonical = {"qid": "id", "prompt": "question", "answer": "response", "gold": "reference"}
    for name, data in (("id", rows(50, 0, 0.0)), ("drift", rows(50, 1, 0.9))):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({canonical[k]: v for k, v in r.items()}) + "\n"
                                                        for r in data))
    from_files = mllmshift.evaluate(id=tmp_path / "id.jsonl", ood=[tmp_path / "drift.jsonl"], **FAST)
    assert from_files.scenario("drift").emid == in_memory.scenario("drift").emid
    assert from_files.scenario("drift").emid_ci == in_memory.scenario("drift").emid_ci
    pd = pytest.importorskip("pandas")
    frames = mllmshift.evaluate(id=pd.DataFrame(rows(50, 0, 0.0)), ood={"drift": pd.DataFrame(rows(50, 1, 0.9))},
                                columns=COLUMNS, **FAST)
    assert frames.scenario("drift").emid == in_memory.scenario("drift").emid
    datasets = pytest.importorskip("datasets")
    ds = mllmshift.evaluate(id=datasets.Dataset.from_list(rows(50, 0, 0.0)),
                            ood={"drift": datasets.Dataset.from_list(rows(50, 1, 0.9))}, columns=COLUMNS, **FAST)
    assert ds.scenario("drift").emid == in_memory.scenario("drift").emid


def test_emi_of_one_split_and_unnamed_ood_lists(tmp_path):
    one = mllmshift.emi(rows(50, 0, 0.0), columns=COLUMNS, **FAST)
    assert isinstance(one, mllmshift.SplitResult) and one.name == "data" and one.n == 50 and one.ci is not None
    res = mllmshift.evaluate(id=rows(40, 0, 0.0), ood=[rows(40, 1, 0.5), rows(40, 2, 0.9)], columns=COLUMNS,
                             log_samples=tmp_path / "samples", **{**FAST, "n_resamples": 0})
    assert [s.name for s in res.scenarios] == ["ood_0", "ood_1"]
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.jsonl")) == ["id.jsonl", "ood_0.jsonl", "ood_1.jsonl"]


def test_bad_config_and_data_fail_before_any_work():
    from mllmshift.evaluation.config import ConfigError

    with pytest.raises(ConfigError, match="confidence"):
        mllmshift.evaluate(id=rows(5, 0, 0), ood=rows(5, 1, 0), columns=COLUMNS, confidence=2.0)
    with pytest.raises(MllmshiftError, match="at least one shifted split"):
        mllmshift.evaluate(id=rows(5, 0, 0), ood={}, columns=COLUMNS)
    with pytest.raises(MllmshiftError, match="<records>: field 'question': no column 'question'"):
        mllmshift.emi([{"id": 1}], **FAST)


def test_the_readers_checks_and_opt_ins_apply_to_in_memory_data():
    data = rows(40, 0, 0.0)
    data[4]["answer"] = "   "
    with pytest.raises(MllmshiftError, match="<records>:5: field 'answer': sample '4' has an empty response"):
        mllmshift.emi(data, columns=COLUMNS, **FAST)
    with pytest.warns(mllmshift.errors.MllmshiftWarning, match="id: 1 of 40 samples have an empty response"):
        kept = mllmshift.evaluate(id=data, ood={"drift": rows(40, 1, 0.9)}, columns=COLUMNS,
                                  reader={"allow_empty": True}, **{**FAST, "n_resamples": 0})
    assert kept.warnings == ("id: 1 of 40 samples have an empty response (kept on request: allow_empty); their "
                             "embeddings carry no meaning",)
    with pytest.raises(MllmshiftError, match="an id must be a string or an integer, got bool True"):
        mllmshift.emi([{"qid": True, "prompt": "q", "answer": "a", "gold": "g"}], columns=COLUMNS, **FAST)
    with pytest.raises(MllmshiftError, match=r"reader options \['questions'\] apply to files"):
        mllmshift.emi(data, columns=COLUMNS, reader={"questions": "q.jsonl"}, **FAST)
