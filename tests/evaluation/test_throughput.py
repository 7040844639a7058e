"""Every embedding stage says its texts/s and images/s: the counts behind a split's rows, and the line the
in-memory path says per split."""

from __future__ import annotations

import io
import re

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.embedding import Encoders, Throughput, embed_splits
from mllmshift.progress import LineProgress
from mllmshift.records import Sample, Split


def _split(name: str, n: int, **extra: str) -> Split:
    return Split(name, [Sample(str(i), f"question {i} of {name}", response=f"answer {i}", **extra)
                        for i in range(n)])


def test_items_count_a_text_per_row_of_each_text_field_and_an_image_per_row_of_images():
    z = np.ones((5, 4), np.float32)
    texts_only = EmbeddedSplit.from_arrays("a", x_text=z, response=z, reference=z, metadata={"visual_source": None})
    captions = EmbeddedSplit.from_arrays("b", x_text=z, response=z, x_visual=z,
                                         metadata={"visual_source": "image_text"})
    images = EmbeddedSplit.from_arrays("c", x_text=z, response=None, x_visual=np.ones((5, 6), np.float32),
                                       metadata={"visual_source": "image"})
    assert Throughput.items(texts_only) == (15, 0)
    assert Throughput.items(captions) == (15, 0)  # questions, responses and the captions standing in for images
    assert Throughput.items(images) == (5, 5)
    t = Throughput.of(images, 2.0)
    assert (t.split, t.texts, t.images) == ("c", 5, 5)
    assert t.line() == "embed c: 5 texts (2 texts/s), 5 images (2 images/s) in 2.0 s"


def test_the_in_memory_path_says_a_throughput_line_per_split():
    stream = io.StringIO()
    cfg = EvalConfig(text_encoder="hashing-bow", image_encoder=None)
    splits = [_split("id", 7), _split("shifted", 4, image_text="a caption")]
    embedded = embed_splits(splits, Encoders(cfg), None, LineProgress(stream))
    lines = [ln for ln in stream.getvalue().splitlines() if ln.startswith("embed ")]
    counts = [re.match(r"embed (\w+): (\d+) texts \([\d,]+ texts/s\) in [\d.]+ s$", ln).groups() for ln in lines]
    assert counts == [("id", "14"), ("shifted", "12")]
    assert [len(e) for e in embedded] == [7, 4]
