from __future__ import annotations

import numpy as np
import pytest

from mllmshift.embeddings import EmbeddedSplit, fuse, resolve_fusion


def test_fusion_rules(rng):
    v, t = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(fuse(v, t, "mean"), (v + t) / 2, rtol=1e-6)
    assert fuse(v, t, "auto").shape == (3, 4)
    w = rng.normal(size=(3, 6))
    assert resolve_fusion("auto", 6, 4) == "concat"
    np.testing.assert_allclose(fuse(w, t), np.concatenate([w, t], axis=1), rtol=1e-6)
    np.testing.assert_allclose(fuse(None, t), t, rtol=1e-6)
    with pytest.raises(ValueError, match="equal dims"):
        fuse(w, t, "mean")
    with pytest.raises(ValueError, match="needs a visual input"):
        fuse(None, t, "mean")


def test_embedded_split_checks_shapes_and_subsets(rng):
    e = EmbeddedSplit.from_arrays("s", x_text=rng.normal(size=(5, 2)), response=rng.normal(size=(5, 3)))
    assert e.metadata["fusion"] == "text" and e.ids == ("0", "1", "2", "3", "4")
    sub = e.subset([4, 4, 0])
    np.testing.assert_array_equal(sub.response, e.response[[4, 4, 0]])
    with pytest.raises(ValueError, match="response has shape"):
        EmbeddedSplit("s", ("a",), x_text=np.zeros((1, 2)), x=np.zeros((1, 2)), response=np.zeros((2, 2)))
