"""Strict YAML: duplicate keys and non-UTF-8 files are located errors; every field has its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mllmshift.errors import DataError
from mllmshift.io.yaml_strict import load_yaml, parse_yaml
from mllmshift.shifts.grid import GridSpec
from mllmshift.study.config import StudyConfig


def test_fields_get_their_lines() -> None:
    doc = parse_yaml("a: 1\nb:\n  c: [1, 2]\n  d:\n    - x: 1\n    - y: 2\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": [1, 2], "d": [{"x": 1}, {"y": 2}]}}
    assert doc.lines == {"a": 1, "b": 2, "b.c": 3, "b.c[0]": 3, "b.c[1]": 3, "b.d": 4, "b.d[0]": 5, "b.d[0].x": 5,
                         "b.d[1]": 6, "b.d[1].y": 6}
    assert doc.line_of("b.d[1].y.z") == 6 and doc.line_of("nowhere") is None
    err = doc.error("bad", "b.c[1]")
    assert str(err) == "f.yaml:3: field 'b.c[1]': bad"


@pytest.mark.parametrize("text,line,first,field", [
    ("seed: 0\ntitle: t\nseed: 1\n", 3, 1, "seed"),
    ("bootstrap:\n  n_resamples: 10\n  confidence: 0.9\n  n_resamples: 20\n", 4, 2, "bootstrap.n_resamples"),
    ("scenarios:\n  - {path: a.jsonl, group: text, path: b.jsonl}\n", 2, 2, "scenarios[0].path"),
    ("'seed': 0\nseed: 1\n", 2, 1, "seed"),
])
def test_duplicate_keys_name_both_lines(text: str, line: int, first: int, field: str) -> None:
    with pytest.raises(DataError) as err:
        parse_yaml(text, "c.yaml")
    assert (err.value.line, err.value.field) == (line, field)
    assert f"given on line {first} and again on line {line}" in str(err.value)


def test_keys_of_different_types_are_different_and_merges_may_override() -> None:
    assert parse_yaml("1: a\n'1': b\n").data == {1: "a", "1": "b"}
    doc = parse_yaml("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert doc.data["use"] == {"x": 1, "y": 3}


def test_non_utf8_names_line_and_byte(tmp_path: Path) -> None:
    p = tmp_path / "latin.yaml"
    p.write_bytes("title: ok\nname: caf".encode() + b"\xe9\n")
    with pytest.raises(DataError, match=r"latin\.yaml:2: not valid UTF-8 .*byte 0xe9 at offset 19"):
        load_yaml(p)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbfseed: 3\n")
    assert load_yaml(bom).data == {"seed": 3}


def test_syntax_errors_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"x\.yaml:2: bad YAML"):
        parse_yaml("a: [1, 2\nb: 3\n", tmp_path / "x.yaml")
    with pytest.raises(DataError, match="grid file not found"):
        load_yaml(tmp_path / "absent.yaml", "grid file")
    with pytest.raises(DataError, match="config file is not a file"):
        load_yaml(tmp_path, "config file")
    assert parse_yaml("").data is None


def test_study_config_reads_strictly(tmp_path: Path) -> None:
    (tmp_path / "id.jsonl").write_text('{"id": "a", "question": "q"}\n')
    cfg = tmp_path / "study.yaml"
    cfg.write_text("id: id.jsonl\nseed: 1\nscenarios: []\nseed: 2\n")
    with pytest.raises(DataError, match=r"study\.yaml:4: field 'seed': duplicate key 'seed': given on line 2"):
        StudyConfig.from_yaml(cfg)
    cfg.write_bytes(b"id: id.jsonl\ntitle: \xe9t\xe9\n")
    with pytest.raises(DataError, match=r"study\.yaml:2: not valid UTF-8"):
        StudyConfig.from_yaml(cfg)


def test_grid_errors_name_the_line_of_the_field(tmp_path: Path) -> None:
    g = tmp_path / "grid.yaml"
    g.write_text("dataset: d\nvisual:\n  - corruption: frost\n    severities: [1, 6]\n")
    with pytest.raises(DataError, match=r"grid\.yaml:4: field 'visual\[0\]\.severities': severities must be 1\.\.5"):
        GridSpec.from_yaml(g)
    g.write_text("dataset: d\nvisual:\n  - corruption: frost\n    corruption: snow\n")
    with pytest.raises(DataError, match=r"grid\.yaml:4: field 'visual\[0\]\.corruption': duplicate key"):
        GridSpec.from_yaml(g)
    g.write_text("dataset: d\ntext:\n  - perturbation: keyboard\n    levels: [100]\n")
    with pytest.raises(DataError, match=r"grid\.yaml:3: field 'text\[0\]\.params': keyboard: level must be an "
                                        r"integer 0\.\.20"):
        GridSpec.from_yaml(g)
