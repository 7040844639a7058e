"""VLMEvalKit prediction tables (xlsx / tsv) → canonical samples."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

from mllmshift.errors import DataError  # noqa: E402
from mllmshift.io.vlmevalkit import read_vlmevalkit  # noqa: E402

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(64))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))


def llavabench_frame():
    return pd.DataFrame({
        "index": [0, 1, 2],
        "question": ["What is this?", "Describe it.", "Why?"],
        "caption": ["a cat", "a cat", "a dog"],
        "gpt4_ans": ["A cat.", "A cat on a mat.", "Because."],
        "category": ["conv", "detail", "complex"],
        "image": [base64.b64encode(JPEG).decode(), "0", base64.b64encode(PNG).decode()],  # row 1 reuses row 0's image
        "prediction": ["cat", "a cat sits", "no idea"],
    })


@pytest.mark.parametrize("suffix", [".xlsx", ".tsv"])
def test_llavabench_predictions(tmp_path, suffix):
    p = tmp_path / f"llava_v1.5_7b_LLaVABench{suffix}"
    df = llavabench_frame()
    df.to_excel(p, index=False) if suffix == ".xlsx" else df.to_csv(p, sep="\t", index=False)
    split = read_vlmevalkit(p, image_dir=tmp_path / "imgs")
    assert split.name == p.stem and split.ids == ["0", "1", "2"]
    s0, s1, s2 = split
    assert (s0.question, s0.response, s0.reference, s0.image_text) == ("What is this?", "cat", "A cat.", "a cat")
    assert Path(s0.image).read_bytes() == JPEG and s1.image == s0.image   # decoded once, shared by reference
    assert Path(s2.image).read_bytes() == PNG
    assert s2.metadata == {"category": "complex"}


def test_multiple_choice_question_as_the_model_saw_it(tmp_path):
    p = tmp_path / "m_MMBench.tsv"
    pd.DataFrame({"index": [10], "question": ["Which animal?"], "hint": ["Look closely."], "A": ["cat"],
                  "B": ["dog"], "C": [None], "answer": ["A"], "prediction": ["A"],
                  "image_path": ["imgs/10.jpg"]}).to_csv(p, sep="\t", index=False)
    s = read_vlmevalkit(p)[0]
    assert s.question == "Hint: Look closely.\nQuestion: Which animal?\nOptions:\nA. cat\nB. dog"
    assert s.reference == "A" and s.image == str(tmp_path / "imgs" / "10.jpg")


def test_column_override_and_errors(tmp_path):
    p = tmp_path / "x.tsv"
    df = llavabench_frame().drop(columns=["image"])
    df.to_csv(p, sep="\t", index=False)
    assert read_vlmevalkit(p, columns={"reference": "caption"})[0].reference == "a cat"
    df.loc[1, "prediction"] = None
    df.to_csv(p, sep="\t", index=False)
    with pytest.raises(DataError, match=r"x.tsv:3: field 'prediction'"):
        read_vlmevalkit(p)
    df.drop(columns=["prediction"]).to_csv(p, sep="\t", index=False)
    with pytest.raises(DataError, match="no column 'prediction'"):
        read_vlmevalkit(p)
    bad = llavabench_frame()
    bad.loc[2, "image"] = "%%% not base64 %%%" * 10
    bad.to_csv(p, sep="\t", index=False)
    with pytest.raises(DataError, match=r":4: field 'image': not base64"):
        read_vlmevalkit(p, image_dir=tmp_path / "i")
    with pytest.raises(DataError, match="unknown fields"):
        read_vlmevalkit(p, columns={"nope": "a"})
    (tmp_path / "y.json").write_text("{}")
    with pytest.raises(DataError, match="expected one of"):
        read_vlmevalkit(tmp_path / "y.json")
