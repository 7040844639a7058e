"""Readers: canonical JSONL, LLaVA answer files, HF/Parquet, and located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mllmshift.errors import DataError
from mllmshift.io import read_canonical, read_split, write_canonical
from mllmshift.io.llava import read_llava
from mllmshift.records import Sample, Split


def _write(path: Path, rows: list, raw: str | None = None) -> Path:
    path.write_text(raw if raw is not None else "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_canonical_roundtrip(tmp_path):
    split = Split("s", (Sample("a", "q1", "r1", "ref1", image=str(tmp_path / "x.png"), metadata={"k": 1}),
                        Sample("b", "q2", None, None, image_text="two cats")))
    write_canonical(split, tmp_path / "s.jsonl")
    back = read_canonical(tmp_path / "s.jsonl", allow_mixed_visual=True)  # one image, one caption: allowed here
    assert back.samples == split.samples and back.name == "s"
    assert back.metadata["mixed_visual"] == {"field": "image", "missing": ["b"]}


def test_canonical_relative_image_resolved_against_file(tmp_path):
    p = _write(tmp_path / "d.jsonl", [{"id": 1, "question": "q", "image": "img/a.png"}])
    assert read_split(p)[0].image == str(tmp_path / "img" / "a.png")


@pytest.mark.parametrize(
    ("raw", "line", "field", "message"),
    [
        ('{"id": 1, "question": "q"}\n{"id": 2\n', 2, None, "bad JSON"),
        ('{"id": 1, "question": "q"}\n\n{"question": "q"}\n', 3, "id", "missing"),
        ('{"id": 1, "question": 5}\n', 1, "question", "expected str"),
        ('{"id": 1, "question": "q"}\n{"id": 1, "question": "q"}\n', 2, "id", "duplicate id '1'"),
        ('[1, 2]\n', 1, None, "expected a JSON object"),
    ],
)
def test_canonical_errors_name_file_line_field(tmp_path, raw, line, field, message):
    p = _write(tmp_path / "bad.jsonl", [], raw)
    with pytest.raises(DataError) as info:
        read_canonical(p)
    err = info.value
    assert err.path == str(p) and err.line == line and err.field == field
    assert message in str(err) and f"bad.jsonl:{line}" in str(err)


def test_missing_file_and_bad_utf8(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_split(tmp_path / "nope.jsonl")
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"id": 1, "question": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin.jsonl:1: not valid UTF-8"):
        read_split(p)


@pytest.fixture
def llava_files(tmp_path):
    q = _write(tmp_path / "questions.jsonl", [
        {"question_id": 0, "image": "a.jpg", "text": "What colour?", "category": "conv"},
        {"question_id": 1, "image": "b.jpg", "text": "Describe.", "category": "detail"}])
    a = _write(tmp_path / "answers.jsonl", [
        {"question_id": 1, "prompt": "Descrbe.", "text": "A dog.", "answer_id": "x", "model_id": "m"},
        {"question_id": 0, "prompt": "What colour?", "text": "Red.", "answer_id": "y", "model_id": "m"}])
    r = _write(tmp_path / "refs.jsonl", [{"question_id": 0, "text": "It is red."},
                                         {"question_id": 1, "text": "A brown dog."}])
    c = _write(tmp_path / "caps.jsonl", [{"image": "a.jpg", "captions": ["a red car", "a car"]},
                                         {"image": "b.jpg", "captions": ["a dog"]}])
    return q, a, r, c


def test_llava_join(llava_files, tmp_path):
    q, a, r, c = llava_files
    s = read_llava(a, questions=q, references=r, captions=c, image_folder=tmp_path / "imgs")
    assert s.ids == ["1", "0"]  # response-file order
    first = s[0]
    assert first.question == "Descrbe." and first.metadata["original_question"] == "Describe."
    assert first.response == "A dog." and first.reference == "A brown dog."
    assert first.image_text == "a dog" and first.image == str(tmp_path / "imgs" / "b.jpg")
    assert s[1].image_text == "a red car a car" and s[1].metadata["category"] == "conv"
    assert read_split(a, questions=q, references=r).ids == ["1", "0"]  # sniffed as llava


def test_llava_unmatched_ids_are_located(llava_files, tmp_path):
    q, a, r, c = llava_files
    extra = _write(tmp_path / "more.jsonl", [{"question_id": 0, "prompt": "p", "text": "t"},
                                            {"question_id": 7, "prompt": "p", "text": "t"}])
    with pytest.raises(DataError) as info:
        read_llava(extra, questions=q)
    assert info.value.line == 2 and info.value.field == "question_id" and "'7'" in str(info.value)
    short_refs = _write(tmp_path / "r2.jsonl", [{"question_id": 0, "text": "x"}])
    with pytest.raises(DataError, match="has no reference"):
        read_llava(a, questions=q, references=short_refs)
    one = _write(tmp_path / "one.jsonl", [{"question_id": 0, "prompt": "p", "text": "t"}])
    with pytest.raises(DataError, match="has no response") as info:
        read_llava(one, questions=q)
    assert info.value.path == str(q) and info.value.line == 2
    assert len(read_llava(one, questions=q, strict=False)) == 1
    dup = _write(tmp_path / "dup.jsonl", [{"question_id": 0, "text": "t"}, {"question_id": 0, "text": "u"}])
    with pytest.raises(DataError, match="duplicate question_id") as info:
        read_llava(dup)
    assert info.value.line == 2
    bad_caps = _write(tmp_path / "bc.jsonl", [{"image": "a.jpg", "captions": "not a list"}])
    with pytest.raises(DataError, match="bc.jsonl:1: field 'captions'"):
        read_llava(a, questions=q, captions=bad_caps)


def test_parquet_with_column_mapping(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"qid": [3, 4], "prompt": ["q3", "q4"], "answer": ["a3", "a4"], "gold": ["g3", "g4"],
                      "extra": ["e", "f"]})
    pq.write_table(table, tmp_path / "d.parquet")
    s = read_split(tmp_path / "d.parquet", columns={"id": "qid", "question": "prompt", "response": "answer",
                                                     "reference": "gold"})
    assert s.ids == ["3", "4"] and s[1].response == "a4" and s[0].metadata["extra"] == "e"
    with pytest.raises(DataError, match="no column 'missing'") as info:
        read_split(tmp_path / "d.parquet", columns={"id": "qid", "question": "missing"})
    assert info.value.field == "question"


def test_saved_hf_dataset_with_images(tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    img = Image.new("RGB", (4, 4), (255, 0, 0))
    ds = datasets.Dataset.from_dict({"id": ["a", "b"], "question": ["q", "r"], "image": [img, img]},
                                    features=datasets.Features({"id": datasets.Value("string"),
                                                                "question": datasets.Value("string"),
                                                                "image": datasets.Image()}))
    ds.save_to_disk(str(tmp_path / "ds"))
    s = read_split(tmp_path / "ds", image_dir=tmp_path / "imgs")
    assert s[0].image is not None and s[0].image == s[1].image  # same content, same file
    with Image.open(s[0].image) as back:
        assert back.getpixel((0, 0)) == (255, 0, 0)


@pytest.mark.shared
def test_reads_the_real_llava_bench_layout(shared_data):
    coco = shared_data / "llava-bench-coco"
    s = read_split(shared_data / "llavabench-shift/responses/llava-v1.5-13b/llava_bench_coco_KeyboardAug_3.jsonl",
                   questions=coco / "questions.jsonl", references=coco / "gpt4_answers.jsonl",
                   captions=coco / "captions_boxes.jsonl")
    assert len(s) == 90 and s.has_references and s.has_image_text and s.has_responses
    assert sum(x.question != x.metadata["original_question"] for x in s) > 20  # typos are in the prompts
    wild = read_split(shared_data / "llavabench-shift/responses/llava-v1.5-13b/llava_bench_in_the_wild_English.jsonl")
    assert len(wild) == 60 and not wild.has_references
