"""Per-sample rows a person can read: doc_id/id/split first; the question, response and reference only on
request (--log-samples-text), equal to the input file's and consistent with the row's own SHA-256."""

from __future__ import annotations

import hashlib
import json

from mllmshift.cli.main import main
from mllmshift.evaluation.sample_text import readable, sample_texts
from mllmshift.records import Sample, Split

TEXT_KEYS = {"input", "filtered_resps", "target", "image", "image_text"}


def _split():
    return Split("s", [Sample(id="a", question="q1?", response="r1", reference="t1"),
                       Sample(id="b", question="q2?", response="r2", reference=None, image_text="cap")])


def test_position_id_and_split_come_first_and_texts_only_on_request():
    split = _split()
    rows = [{"id": "a", "emi": 0.5}, {"id": "b", "emi": None}]
    plain = readable(rows, split)
    assert [list(r)[:3] for r in plain] == [["doc_id", "id", "split"]] * 2
    assert [(r["doc_id"], r["id"], r["split"], r["emi"]) for r in plain] == [(0, "a", "s", 0.5), (1, "b", "s", None)]
    assert not TEXT_KEYS & set(plain[0])
    with sample_texts():
        full = readable(rows, split)
    assert full[0]["input"] == "q1?" and full[0]["filtered_resps"] == ["r1"] and full[0]["target"] == "t1"
    assert full[1]["target"] is None and full[1]["image_text"] == "cap" and "image" not in full[1]
    assert not TEXT_KEYS & set(readable(rows, split)[0])  # the request ends with its block


def test_the_cli_writes_the_texts_of_the_input_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    src = [{"id": str(i), "question": f"what about {i} and {i % 3}?", "response": f"it is {i % 5}",
            "reference": f"it is {i % 4}"} for i in range(30)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in src))
    base = ["emi", "d.jsonl", "--text-encoder", "hashing-bow", "--no-cache", "--mi-estimator", "infonce",
            "--estimator-option", "max_steps=50", "--n-estimators", "1", "--bootstrap", "0", "--threads", "1",
            "--quiet"]
    assert main([*base, "--log-samples", "plain"]) == 0
    assert main([*base, "--log-samples", "text", "--log-samples-text"]) == 0
    plain = [json.loads(x) for x in (tmp_path / "plain" / "d.jsonl").read_text().splitlines()]
    text = [json.loads(x) for x in (tmp_path / "text" / "d.jsonl").read_text().splitlines()]
    assert not TEXT_KEYS & set(plain[0])
    for i, (row, want) in enumerate(zip(text, src, strict=True)):
        assert (row["doc_id"], row["id"], row["split"]) == (i, want["id"], "d")
        assert (row["input"], row["filtered_resps"], row["target"]) == (want["question"], [want["response"]],
                                                                        want["reference"])
        assert row["sha256"]["question"] == hashlib.sha256(row["input"].encode()).hexdigest()
    # the texts add to the row; the numbers are those of the run without them
    assert [{k: v for k, v in r.items() if k not in TEXT_KEYS} for r in text] == plain
