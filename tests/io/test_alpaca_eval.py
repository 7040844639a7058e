"""The AlpacaEval reader: model_outputs.json joined with a reference model's on instruction, located errors,
sniffing, the CLI's --format alpaca-eval, and the real files in ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mllmshift.errors import DataError
from mllmshift.io import read_split
from mllmshift.io.alpaca_eval import instruction_id, iter_json_array, read_alpaca_eval
from mllmshift.io.readers import sniff_format

INSTR = ["Name three colours.", "What is 2 + 2?", "Write a haiku about rain."]


def _write(path: Path, records: list[dict]) -> Path:
    """A pretty-printed JSON list as AlpacaEval writes it (each object over several lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return path


def _model(tmp_path: Path, name: str, outputs: list[str], order: list[int] | None = None) -> Path:
    order = order if order is not None else list(range(len(outputs)))
    recs = [{"instruction": INSTR[i], "output": outputs[i], "generator": name,
             "dataset": "koala" if i % 2 else "vicuna", "datasplit": "eval"} for i in order]
    return _write(tmp_path / "results" / name / "model_outputs.json", recs)


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def test_join_on_instruction_whatever_the_order(tmp_path):
    ref = _model(tmp_path, "gpt4", ["R0", "R1", "R2"])
    mod = _model(tmp_path, "small", ["A0", "A1", "A2"], order=[2, 0, 1])
    split = read_alpaca_eval(mod.parent, references=ref.parent)
    assert split.name == "small" and len(split) == 3
    assert [s.question for s in split] == [INSTR[2], INSTR[0], INSTR[1]]  # the model file's order
    assert [s.response for s in split] == ["A2", "A0", "A1"]
    assert [s.reference for s in split] == ["R2", "R0", "R1"]  # joined by instruction, not position
    assert split[0].id == instruction_id(INSTR[2]) and split[0].id.startswith("ae-")
    assert split[0].metadata == {"dataset": "vicuna", "datasplit": "eval", "generator": "small",
                                 "reference_generator": "gpt4"}
    assert split[0].image is None and split.metadata["format"] == "alpaca-eval"
    # ids are shared across models: another model's split pairs up item by item
    other = read_alpaca_eval(_model(tmp_path, "other", ["B0", "B1", "B2"]), references=ref)
    assert {s.id for s in other} == {s.id for s in split}


def test_without_references_and_through_read_split(tmp_path):
    mod = _model(tmp_path, "small", ["A0", "A1", "A2"])
    assert sniff_format(mod) == "alpaca-eval" and sniff_format(mod.parent) == "alpaca-eval"
    split = read_split(mod)
    assert [s.reference for s in split] == [None] * 3
    joined = read_split(mod, "alpaca-eval", references=_model(tmp_path, "gpt4", ["R0", "R1", "R2"]), name="x")
    assert joined.name == "x" and joined[1].reference == "R1"


def test_line_numbers_point_at_each_object(tmp_path):
    mod = _model(tmp_path, "small", ["A0", "A1", "A2"])
    lines = [line for line, _ in iter_json_array(mod)]
    text = mod.read_text().splitlines()
    assert [text[i - 1].strip() for i in lines] == ["{"] * 3
    assert lines[1] == _line_of(mod, INSTR[1]) - 1


@pytest.mark.parametrize("record, field, message", [
    ({"output": "A"}, "instruction", "missing"),
    ({"instruction": 3, "output": "A"}, "instruction", "expected str"),
    ({"instruction": "Q?"}, "output", "missing"),
    ({"instruction": "Q?", "output": None}, "output", "missing"),
])
def test_bad_records_name_file_line_and_field(tmp_path, record, field, message):
    path = _write(tmp_path / "m.json", [{"instruction": "fine", "output": "ok"}, record])
    with pytest.raises(DataError) as err:
        read_alpaca_eval(path)
    e = err.value
    assert (e.path, e.field) == (str(path), field) and message in e.message
    assert e.line == [line for line, _ in iter_json_array(path)][1] == 6  # where the second object starts


def test_duplicate_instruction_in_either_file(tmp_path):
    dup = _write(tmp_path / "dup.json", [{"instruction": "Q?", "output": "a"}, {"instruction": "Q?", "output": "b"}])
    with pytest.raises(DataError, match=r"duplicate instruction \(first on line 2\)") as err:
        read_alpaca_eval(dup)
    assert err.value.field == "instruction" and err.value.line == 6
    ok = _write(tmp_path / "ok.json", [{"instruction": "Q?", "output": "a"}])
    with pytest.raises(DataError, match="duplicate instruction") as err:
        read_alpaca_eval(ok, references=dup)
    assert err.value.path == str(dup)


def test_unmatched_instructions_both_ways(tmp_path):
    ref = _model(tmp_path, "gpt4", ["R0", "R1", "R2"])
    extra = _write(tmp_path / "extra.json", [{"instruction": INSTR[0], "output": "a"},
                                             {"instruction": "Not asked", "output": "b"}])
    with pytest.raises(DataError, match="not in the reference file") as err:
        read_alpaca_eval(extra, references=ref)
    assert (err.value.path, err.value.line, err.value.field) == (str(extra), 6, "instruction")
    partial = _write(tmp_path / "partial.json", [{"instruction": INSTR[0], "output": "a"},
                                                 {"instruction": INSTR[2], "output": "c"}])
    with pytest.raises(DataError, match="1 reference instructions unanswered") as err:
        read_alpaca_eval(partial, references=ref)
    assert err.value.path == str(ref) and err.value.line == _line_of(ref, INSTR[1]) - 1
    kept = read_alpaca_eval(partial, references=ref, strict=False)
    assert [s.reference for s in kept] == ["R0", "R2"]


def test_not_a_list_and_bad_json(tmp_path):
    obj = tmp_path / "obj.json"
    obj.write_text('{"instruction": "Q", "output": "A"}')
    with pytest.raises(DataError, match="expected a JSON list"):
        read_alpaca_eval(obj)
    bad = tmp_path / "bad.json"
    bad.write_text('[\n {"instruction": "Q", "output": "A"},\n {"instruction": }\n]')
    with pytest.raises(DataError, match="bad JSON") as err:
        read_alpaca_eval(bad)
    assert err.value.line == 3
    with pytest.raises(DataError, match="file not found"):
        read_alpaca_eval(tmp_path / "missing")


def test_cli_format_alpaca_eval(tmp_path, capsys):
    from mllmshift.cli.main import main

    words = "red blue green cat dog car tree house sky river boat bird road city field".split()
    instr = [f"tell me about {words[i % 15]} and {words[(3 * i) % 15]} number {i}" for i in range(40)]
    ref = _write(tmp_path / "ref" / "model_outputs.json",
                 [{"instruction": q, "output": q.replace("tell me about", "here is")} for q in instr])
    mod = _write(tmp_path / "mod" / "model_outputs.json",
                 [{"instruction": q, "output": f"{words[i % 15]} {words[(3 * i) % 15]}"} for i, q in enumerate(instr)])
    argv = ["emi", str(mod), "--references", str(ref), "--text-encoder", "hashing-bow", "--no-cache",
            "--mi-estimator", "gaussian", "--bootstrap", "0", "--quiet", "--json"]
    for fmt in ([], ["--format", "alpaca-eval"]):
        assert main(argv + fmt) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["data"]["id"]["n"] == 40 and out["data"]["embeddings"]["mod"]["fusion"] == "text"
    assert main(argv + ["--format", "alpaca-eval", "--questions", str(ref)]) != 0
    assert "takes only --references" in capsys.readouterr().err


@pytest.mark.shared
def test_real_alpaca_eval_files(shared_data):
    results = shared_data / "alpacaeval" / "results"
    ref = results / "gpt4_1106_preview"
    ids = None
    for folder in sorted(p for p in results.iterdir() if p.is_dir() and p != ref):
        split = read_split(folder, references=ref)
        assert len(split) == 805 and all(s.reference and isinstance(s.response, str) for s in split)
        assert {s.metadata["dataset"] for s in split} == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
        assert ids is None or set(split.ids) == ids  # every model answers the same 805 instructions
        ids = set(split.ids)
