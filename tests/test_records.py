from __future__ import annotations

import pytest

from mllmshift.records import Sample, Split


def test_sample_is_frozen_and_metadata_read_only():
    s = Sample(3, "q", metadata={"a": 1})
    assert s.id == "3"
    with pytest.raises(AttributeError):
        s.question = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.metadata["a"] = 2  # type: ignore[index]
    assert s.with_(response="r").response == "r" and s.response is None


def test_split_rejects_duplicate_ids_and_subsets():
    with pytest.raises(ValueError, match="duplicate sample id 'a'"):
        Split("s", (Sample("a", "q"), Sample("a", "r")))
    s = Split("s", tuple(Sample(str(i), f"q{i}", reference="r") for i in range(5)))
    sub = s.subset([4, 0], name="t")
    assert sub.ids == ["4", "0"] and sub.name == "t" and sub.has_references and not sub.has_responses
    assert not s.has_images and s.map(lambda x: x.with_(image="p")).has_images
