"""Readers are registry entries: a new format is one register_reader call (here, in this file), and the command
line (its --format choices and --columns flag), the study config and the API take it from there; every reader
with columns takes --columns; names match with '-' or '_' and through aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mllmshift.cli.main import main
from mllmshift.errors import DataError
from mllmshift.io import readers
from mllmshift.io.readers import Reader, ReaderOption, get_reader, read_split, register_reader, sniff_format
from mllmshift.records import Sample, Split


# ------------------------------------------------------------------------------ the toy reader: all it takes
def read_toy(path, *, name=None, allow_empty=False, allow_mixed_visual=False, columns=None):
    """A '|'-separated table: a header line, then one sample a line; ``columns`` maps field → header name."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("|")
    cols = {"id": "id", "question": "question", "response": "response", "reference": "reference",
            **dict(columns or {})}
    samples = []
    for line in lines[1:]:
        row = dict(zip(header, line.split("|")))
        samples.append(Sample(id=row[cols["id"]], question=row[cols["question"]], response=row[cols["response"]],
                              reference=row[cols["reference"]]))
    return Split(name or Path(path).stem, tuple(samples), metadata={"source": str(path)})


register_reader(Reader("toy-table", read_toy, options={"columns": ReaderOption("columns", "toy column mapping")},
                       sniff=lambda p, record: p.suffix == ".toy", rank=15, description="a toy '|' table"))
# ------------------------------------------------------------------------------


def _write_toy(path: Path, n: int, shift: str = "") -> Path:
    lines = ["qid|q|a|ref"] + [f"{i}|what colour is thing {i} {shift}|thing {i} is red {shift}|thing {i} is blue"
                               for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


COLS = "id=qid,question=q,response=a,reference=ref"
FAST = ["--text-encoder", "hashing-bow", "--image-encoder", "none", "--mi-estimator", "gaussian", "--bootstrap",
        "0", "--no-cache", "--quiet", "--threads", "1"]


def test_the_toy_reader_is_a_format_everywhere(tmp_path):
    p = _write_toy(tmp_path / "a.toy", 12)
    assert "toy-table" in readers.FORMATS and sniff_format(p) == "toy-table" and get_reader("toy_table").name == "toy-table"
    split = read_split(p, columns={"id": "qid", "question": "q", "response": "a", "reference": "ref"})
    assert len(split) == 12 and split.samples[3].response == "thing 3 is red "


def test_the_toy_reader_through_the_command_line(tmp_path, capsys):
    a, b = _write_toy(tmp_path / "id.toy", 24), _write_toy(tmp_path / "shift.toy", 24, "please")
    assert main(["emid", "--id", str(a), "--ood", str(b), "--format", "toy_table", "--columns", COLS, *FAST,
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["id"]["n"] == 24 and res["scenarios"][0]["name"] == "shift"


def test_the_toy_reader_through_a_study(tmp_path):
    import yaml

    a, b = _write_toy(tmp_path / "id.toy", 24), _write_toy(tmp_path / "shift.toy", 24, "please")
    cols = dict(kv.split("=") for kv in COLS.split(","))
    cfg = {"id": {"path": str(a), "options": {"columns": cols}},
           "scenarios": [{"path": str(b), "format": "toy_table", "options": {"columns": cols}, "group": "text"}],
           "encoders": {"text": "hashing-bow", "image": None}, "estimator": {"name": "gaussian"},
           "bootstrap": {"n_resamples": 0}, "correlation": {"n_resamples": 0}, "threads": 1}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--quiet",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["id"]["n"] == 24 and [s["name"] for s in res["scenarios"]] == ["shift"]
    assert res["config"]["scenarios"][0]["format"] == "toy-table"  # the registered spelling is recorded


def test_every_reader_with_columns_takes_columns_and_the_others_refuse_them(tmp_path, capsys):
    # lmms-eval has columns (the doc fields of id, question and reference): --columns reaches it, no TypeError
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"doc_id": i, "doc": {"qid": f"q{i}", "text": f"question {i}",
                                                               "answer": f"gold {i}"},
                                       "filtered_resps": [f"answer {i}"]}) + "\n" for i in range(12)))
    split = read_split(log, "lmms_eval", columns={"id": "qid", "question": "text", "reference": "answer"})
    assert split.samples[0].id == "q0" and split.samples[0].reference == "gold 0"
    assert main(["emi", str(log), "--format", "lmms-eval", "--columns", "id=qid,question=text,reference=answer",
                 *FAST]) == 0
    capsys.readouterr()
    # a reader without columns refuses them, naming the flag, without a traceback
    jl = tmp_path / "c.jsonl"
    jl.write_text("".join(json.dumps({"id": str(i), "question": "q", "response": "r", "reference": "x"}) + "\n"
                          for i in range(12)))
    assert main(["emi", str(jl), "--format", "jsonl", "--columns", "id=x", *FAST]) == 1
    err = capsys.readouterr().err
    assert "--columns does not apply to --format jsonl" in err and "Traceback" not in err
    with pytest.raises(DataError, match="format 'jsonl' takes no options, not columns"):
        read_split(jl, "jsonl", columns={"id": "x"})


def test_parquet_is_a_name():
    assert get_reader("parquet").name == "hf" and "parquet" in readers.FORMATS
