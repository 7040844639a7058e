"""The checks every reader applies: ids, empty answers, one visual input per split, non-UTF-8 files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mllmshift.errors import DataError
from mllmshift.io import read_canonical, read_split
from mllmshift.io.llava import read_llava


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(n: int = 4, **extra: object) -> list[dict]:
    return [{"id": f"s{i}", "question": f"q{i}?", "response": f"answer {i}", "reference": f"ref {i}", **extra}
            for i in range(n)]


@pytest.mark.parametrize("bad", [True, False, 1.5, [1], {"a": 1}, "", "   "])
def test_ids_must_be_strings_or_integers(tmp_path: Path, bad: object) -> None:
    rows = _rows(3)
    rows[1]["id"] = bad
    p = _jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(DataError) as err:
        read_canonical(p)
    assert err.value.line == 2 and err.value.field == "id" and "d.jsonl:2" in str(err.value)
    assert "an id must" in str(err.value)


def test_integer_ids_are_kept_as_text(tmp_path: Path) -> None:
    rows = _rows(2)
    rows[0]["id"] = 7
    assert read_canonical(_jsonl(tmp_path / "d.jsonl", rows)).ids == ["7", "s1"]


def test_llava_question_ids_are_checked(tmp_path: Path) -> None:
    q = _jsonl(tmp_path / "q.jsonl", [{"question_id": 0, "text": "Q?"}, {"question_id": True, "text": "Q?"}])
    with pytest.raises(DataError, match=r"q\.jsonl:2: field 'question_id': an id must be a string or an integer, "
                                        r"got bool True"):
        read_llava(None, questions=q)


@pytest.mark.parametrize("field", ["response", "reference", "image_text"])
@pytest.mark.parametrize("blank", ["", "  ", "\n\t"])
def test_empty_answers_are_located_errors_unless_allowed(tmp_path: Path, field: str, blank: str) -> None:
    rows = _rows(5, image_text="a caption")
    rows[3][field] = blank
    rows[4][field] = blank
    p = _jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(DataError) as err:
        read_canonical(p)
    assert (err.value.line, err.value.field) == (4, field)
    assert f"sample 's3' has an empty {field} (2 of 5 samples do)" in str(err.value)
    assert "--allow-empty-answers" in str(err.value)
    split = read_split(p, allow_empty=True)
    assert split.metadata["empty"] == {field: ["s3", "s4"]}
    assert any(f"2 of 5 samples have an empty {field}" in w for w in split.metadata["warnings"])
    assert split[3].__getattribute__(field) == blank  # kept as given


def test_one_sample_without_an_image_is_an_error_naming_its_line(tmp_path: Path) -> None:
    rows = _rows(12, image_text="caption")
    for i, r in enumerate(rows):
        r["image"] = f"img{i}.png"
    del rows[7]["image"]
    p = _jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(DataError) as err:
        read_canonical(p)
    assert (err.value.line, err.value.field) == (8, "image")
    assert "sample 's7' has no image, but 11 of 12 samples have one" in str(err.value)
    split = read_split(p, allow_mixed_visual=True)
    assert split.metadata["mixed_visual"] == {"field": "image", "missing": ["s7"]}
    assert "visual input is the captions (image_text)" in split.metadata["warnings"][0]


def test_captions_for_only_some_samples_without_images_are_an_error(tmp_path: Path) -> None:
    rows = _rows(3)
    rows[0]["image_text"] = "c0"
    rows[2]["image_text"] = "c2"
    with pytest.raises(DataError, match=r"d\.jsonl:2: field 'image_text': sample 's1' has no image_text, but 2 of 3"):
        read_canonical(_jsonl(tmp_path / "d.jsonl", rows))
    split = read_split(tmp_path / "d.jsonl", allow_mixed_visual=True)
    assert "visual input is none" in split.metadata["warnings"][0]


def test_consistent_splits_carry_no_warning(tmp_path: Path) -> None:
    rows = _rows(3, image="a.png")
    rows[1]["image_text"] = "only one caption, but every sample has an image"
    split = read_canonical(_jsonl(tmp_path / "d.jsonl", rows))
    assert "warnings" not in split.metadata and "mixed_visual" not in split.metadata
    assert "warnings" not in read_canonical(_jsonl(tmp_path / "t.jsonl", _rows(3))).metadata


def test_llava_errors_point_into_the_file_that_holds_the_field(tmp_path: Path) -> None:
    q = _jsonl(tmp_path / "q.jsonl", [{"question_id": i, "text": f"Q{i}?"} for i in range(3)])
    a = _jsonl(tmp_path / "a.jsonl", [{"question_id": i, "text": f"answer {i}"} for i in range(3)])
    r = _jsonl(tmp_path / "r.jsonl", [{"question_id": i, "text": " " if i == 2 else f"ref {i}"} for i in range(3)])
    with pytest.raises(DataError, match=r"r\.jsonl:3: field 'text': sample '2' has an empty reference"):
        read_llava(a, questions=q, references=r)
    split = read_llava(a, questions=q, references=r, allow_empty=True)
    assert split.metadata["empty"] == {"reference": ["2"]}


def test_hf_rows_are_checked(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    table = pa.table({"qid": ["a", "b"], "prompt": ["q1", "q2"], "text": ["fine", "   "]})
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"d\.parquet:2: field 'text': sample 'b' has an empty response"):
        read_split(tmp_path / "d.parquet", columns={"id": "qid", "question": "prompt", "response": "text"})


def test_non_utf8_files_are_located_errors(tmp_path: Path) -> None:
    j = tmp_path / "log.json"
    j.write_bytes(b'{"logs": [\n{"doc_id": 0, "resps": ["caf\xe9"]}]}')
    with pytest.raises(DataError, match=r"log\.json:2: not valid UTF-8 .*byte 0xe9 at offset 39"):
        read_split(j)
    c = tmp_path / "pred.csv"
    c.write_bytes(b"index,question,prediction\n0,q,ok\n1,q,\xe9t\xe9\n")
    pytest.importorskip("pandas")
    with pytest.raises(DataError, match=r"pred\.csv:3: not valid UTF-8"):
        read_split(c)


def test_unknown_format_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="field 'format': unknown format 'bogus'"):
        read_split(_jsonl(tmp_path / "d.jsonl", _rows(1)), format="bogus")
