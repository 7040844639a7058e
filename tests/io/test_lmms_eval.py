"""lmms-eval sample logs → canonical samples."""

from __future__ import annotations

import json
import re

import pytest

from mllmshift.errors import DataError
from mllmshift.io.lmms_eval import looks_like_lmms_eval, read_lmms_eval


def record(i: int, **over):
    rec = {
        "doc_id": i,
        "doc": {"question_id": f"q{i}", "question": f"What is {i}?", "gpt_answer": f"It is {i}.",
                "category": "conv", "image_id": f"{i:03d}.jpg", "caption": "a photo"},
        "target": f"It is {i}.",
        "arguments": [f"<image>\nWhat is {i}? Answer briefly.", {"max_new_tokens": 64, "temperature": 0},
                      i, "llava_in_the_wild", "train"],
        "resps": [[f"raw answer {i}"]],
        "filtered_resps": [f"answer {i}"],
        "doc_hash": "h", "prompt_hash": "h", "target_hash": "h",
        "gpt_eval_llava_all": {"review": "..."},
        "exact_match": 0.0,
    }
    rec.update(over)
    return rec


def write(tmp_path, recs, name="20240101_samples_llava_in_the_wild.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def test_maps_prompt_answer_and_target(tmp_path):
    p = write(tmp_path, [record(0), record(1)])
    split = read_lmms_eval(p)
    s = split[0]
    assert split.name == p.stem and split.ids == ["0", "1"]
    assert s.question == "<image>\nWhat is 0? Answer briefly."     # the prompt the model saw
    assert s.response == "answer 0"                                 # filtered, not raw
    assert s.reference == "It is 0."
    assert s.image is None
    assert s.metadata["category"] == "conv" and s.metadata["exact_match"] == 0.0
    assert "image_id" not in s.metadata and "gpt_eval_llava_all" not in s.metadata
    assert looks_like_lmms_eval(record(0)) and not looks_like_lmms_eval({"question_id": 1, "text": "x"})


def test_field_overrides_pair_with_llava_ids(tmp_path):
    p = write(tmp_path, [record(0), record(1)])
    split = read_lmms_eval(p, id_field="question_id", question_field="question", reference_field="gpt_answer")
    assert split.ids == ["q0", "q1"] and split[1].question == "What is 1?" and split[1].reference == "It is 1."


def test_list_targets_nested_responses_and_old_json_logs(tmp_path):
    rec = record(0, target=["yes", "yeah"], filtered_resps=[["nested"]])
    del rec["arguments"]
    p = tmp_path / "llava.json"
    p.write_text(json.dumps({"args": {}, "logs": [rec]}))
    s = read_lmms_eval(p)[0]
    assert s.response == "nested" and s.reference == "yes" and s.metadata["targets"] == ["yes", "yeah"]
    assert s.question == "What is 0?"   # no arguments: doc.question


@pytest.mark.parametrize("change,field", [
    ({"filtered_resps": [], "resps": []}, "filtered_resps"),
    ({"filtered_resps": [3]}, "filtered_resps"),  # a non-text filtered answer is not replaced by the raw one
    ({"arguments": [], "doc": {}}, "arguments[0]"),
])
def test_bad_records_name_line_and_field(tmp_path, change, field):
    p = write(tmp_path, [record(0), record(1, **change)])
    with pytest.raises(DataError, match=":2: field '" + re.escape(field) + "'"):
        read_lmms_eval(p)


def test_duplicates_and_foreign_files(tmp_path):
    with pytest.raises(DataError, match="duplicate id '0'"):
        read_lmms_eval(write(tmp_path, [record(0), record(0)]))
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"question_id": 1, "text": "x"}) + "\n")
    with pytest.raises(DataError, match="not an lmms-eval sample record"):
        read_lmms_eval(p)
    with pytest.raises(DataError, match="field 'doc.nope'"):
        read_lmms_eval(write(tmp_path, [record(0)]), id_field="nope")
