"""In-memory data: lists of dicts, pandas DataFrames and Hugging Face Datasets become splits the same way."""

from __future__ import annotations

import math

import pytest

from mllmshift.errors import DataError
from mllmshift.io.memory import read_memory

ROWS = [{"qid": 1, "prompt": "What is shown?", "answer": "A cat.", "ref": "A cat on a mat.", "category": "conv"},
        {"qid": 2, "prompt": "What colour?", "answer": "Red.", "ref": "It is red.", "category": "detail"}]
COLUMNS = {"id": "qid", "question": "prompt", "response": "answer", "reference": "ref"}


def _check(split):
    assert split.ids == ["1", "2"] and split.questions == ["What is shown?", "What colour?"]
    assert split.responses == ["A cat.", "Red."] and split.references == ["A cat on a mat.", "It is red."]
    assert split[0].metadata == {"category": "conv"}


def test_records_dataframe_and_dataset_give_the_same_split():
    _check(read_memory(ROWS, columns=COLUMNS, name="s"))
    pd = pytest.importorskip("pandas")
    _check(read_memory(pd.DataFrame(ROWS), columns=COLUMNS))
    datasets = pytest.importorskip("datasets")
    _check(read_memory(datasets.Dataset.from_list(ROWS), columns=COLUMNS))


def test_nan_in_a_dataframe_is_a_missing_value():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([{"id": 1, "question": "q", "response": "r", "reference": math.nan},
                       {"id": 2, "question": "q2", "response": "r2", "reference": "y"}])
    split = read_memory(df)
    assert split.references == [None, "y"]


def test_errors_name_the_source_row_and_column():
    with pytest.raises(DataError) as err:
        read_memory([{"id": 1, "question": "q"}, {"id": 2}])
    assert str(err.value) == "<records>:2: field 'question': missing"
    with pytest.raises(DataError, match="no column 'prompt'"):
        read_memory([{"id": 1, "question": "q"}], columns={"question": "prompt"})
    with pytest.raises(DataError, match="cannot read a int"):
        read_memory(3)
    with pytest.raises(DataError, match="needs an image folder"):
        read_memory([{"id": 1, "question": "q", "image": {"bytes": b"\x89PNG"}}])


def test_image_values_are_written_once_by_content(tmp_path):
    split = read_memory([{"id": 1, "question": "q", "image": {"bytes": b"abc"}},
                         {"id": 2, "question": "q", "image": {"bytes": b"abc"}}], image_dir=tmp_path)
    assert split[0].image == split[1].image and open(split[0].image, "rb").read() == b"abc"
