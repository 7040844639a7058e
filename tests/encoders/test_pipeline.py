"""embed_split: visual source selection, fusion, None columns, located errors, cache use, registry helper."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mllmshift.embeddings import fuse
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.encoders.content_hash import HashEncoder
from mllmshift.encoders.pipeline import build_encoder, embed_split
from mllmshift.errors import DataError
from mllmshift.records import Sample, Split


class Recording(HashEncoder):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.seen: list[Any] = []

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        self.seen.extend(items)
        return super()._encode_batch(items)


def make_split(tmp_path: Path | None = None, *, images: bool = False, image_text: bool = False,
               responses: bool = True, references: bool = True, n: int = 4) -> Split:
    samples = []
    for i in range(n):
        img = None
        if images:
            assert tmp_path is not None
            img = tmp_path / f"img{i}.png"
            Image.fromarray(np.full((6, 6, 3), 40 * i, dtype=np.uint8)).save(img)
        samples.append(Sample(id=f"q{i}", question=f"what is shown in picture {i}?",
                              response=f"answer {i}" if responses else None,
                              reference=f"reference {i}" if references else None,
                              image=str(img) if img else None,
                              image_text=f"a caption of picture {i}" if image_text else None))
    return Split("toy", tuple(samples))


def test_images_with_image_encoder_concat_fusion(tmp_path: Path) -> None:
    split = make_split(tmp_path, images=True, image_text=True)
    text, image = HashEncoder(dim=8), HashEncoder(dim=6, modality="image")
    e = embed_split(split, text, image)
    assert e.ids == ("q0", "q1", "q2", "q3")
    np.testing.assert_array_equal(e.x_text, text.encode(split.questions))
    np.testing.assert_array_equal(e.x_visual, image.encode(split.images))
    np.testing.assert_array_equal(e.x, np.concatenate([e.x_visual, e.x_text], axis=1))
    np.testing.assert_array_equal(e.response, text.encode(split.responses))
    np.testing.assert_array_equal(e.reference, text.encode(split.references))
    md = e.metadata
    assert md["visual_source"] == "image" and md["fusion"] == "concat" and md["fusion_requested"] == "auto"
    assert md["image_encoder"]["fingerprint"] == image.fingerprint()
    assert md["text_encoder"]["config"] == text.config()


def test_image_text_stands_in_without_image_encoder_mean_fusion(tmp_path: Path) -> None:
    split = make_split(tmp_path, images=True, image_text=True)
    text = HashEncoder(dim=8)
    e = embed_split(split, text)
    captions = [s.image_text for s in split]
    np.testing.assert_array_equal(e.x_visual, text.encode(captions))
    np.testing.assert_allclose(e.x, (e.x_visual + e.x_text) / 2, atol=1e-7)
    np.testing.assert_array_equal(e.x, fuse(e.x_visual, e.x_text, "mean"))
    assert e.metadata["visual_source"] == "image_text" and e.metadata["image_encoder"] is None
    assert e.metadata["fusion"] == "mean"


def test_text_only_split_and_missing_columns() -> None:
    split = make_split(responses=False, references=False)
    e = embed_split(split, HashEncoder(dim=8), HashEncoder(dim=8, modality="image"))
    assert e.x_visual is None and e.response is None and e.reference is None
    np.testing.assert_array_equal(e.x, e.x_text)
    assert e.metadata["visual_source"] is None and e.metadata["fusion"] == "text"


def test_partial_column_is_a_located_error() -> None:
    split = make_split()
    broken = Split("toy", split.samples[:2] + (split.samples[2].with_(reference=None),) + split.samples[3:])
    with pytest.raises(DataError, match=r"field 'reference'.*1 of 4 samples lack it \(first: sample 'q2'\)"):
        embed_split(broken, HashEncoder(dim=8))


def test_missing_image_file_names_sample_and_file(tmp_path: Path) -> None:
    split = make_split(tmp_path, images=True)
    (tmp_path / "img1.png").unlink()
    with pytest.raises(DataError, match=r"img1\.png: field 'image': split 'toy', sample 'q1': image file not found"):
        embed_split(split, HashEncoder(dim=8), HashEncoder(dim=8, modality="image"))


def test_explicit_fusion_and_wrong_modality(tmp_path: Path) -> None:
    split = make_split(tmp_path, images=True)
    e = embed_split(split, HashEncoder(dim=8), HashEncoder(dim=8, modality="image"), fusion="concat")
    assert e.x.shape == (4, 16) and e.metadata["fusion"] == "concat"
    with pytest.raises(ValueError, match="needs equal dims"):
        embed_split(split, HashEncoder(dim=8), HashEncoder(dim=6, modality="image"), fusion="mean")
    with pytest.raises(ValueError, match="image_encoder must be a image encoder"):
        embed_split(split, HashEncoder(dim=8), HashEncoder(dim=8))


def test_everything_goes_through_the_cache(tmp_path: Path) -> None:
    split = make_split(tmp_path, images=True, image_text=True)
    cache = EmbeddingCache(tmp_path / "cache")
    text, image = Recording(dim=8), Recording(dim=8, modality="image")
    first = embed_split(split, text, image, cache=cache)
    assert len(text.seen) == 12 and len(image.seen) == 4  # questions + responses + references, images
    text.seen.clear()
    image.seen.clear()
    again = embed_split(split, text, image, cache=cache)
    assert text.seen == [] and image.seen == []
    for field in ("x", "x_text", "x_visual", "response", "reference"):
        np.testing.assert_array_equal(getattr(again, field), getattr(first, field))
    no_cache = embed_split(split, HashEncoder(dim=8), HashEncoder(dim=8, modality="image"))
    np.testing.assert_array_equal(no_cache.x, first.x)


def test_build_encoder_uses_the_registry() -> None:
    enc = build_encoder("content-hash", dim=5, seed=3)
    assert isinstance(enc, HashEncoder) and enc.dim == 5 and enc.seed == 3
    with pytest.raises(KeyError, match="unknown encoder 'nope'"):
        build_encoder("nope")


def test_encoder_options_are_checked_before_anything_loads() -> None:
    from mllmshift.encoders.pipeline import build_encoder
    from mllmshift.errors import DataError

    with pytest.raises(DataError, match=r"field 'options': encoder 'hashing-bow' does not take these options .*"
                                        r"it takes: dim, bigrams, batch_size"):
        build_encoder("hashing-bow", dimm=3)
    with pytest.raises(DataError, match="field 'model_name_or_path': the hf-embedding-layer encoder needs "
                                        "model_name_or_path"):
        build_encoder("hf-embedding-layer")
    with pytest.raises(DataError, match="field 'model_name_or_path': the clip-vision encoder needs"):
        build_encoder("clip-vision")
    assert build_encoder("hashing-bow", dim=8).dim == 8


def test_build_encoder_takes_plugins_through_the_policy_and_checks_normalize_and_threads() -> None:
    from mllmshift.encoders.hashing import HashingBOW
    from mllmshift.encoders.pipeline import build_encoder
    from mllmshift.errors import DataError
    from mllmshift.plugins import PluginError

    enc = build_encoder("mllmshift.encoders.hashing:HashingBOW", dim=8, threads=1)  # mllmshift's own: allowed
    assert isinstance(enc, HashingBOW) and enc.dim == 8 and enc.threads == 1
    with pytest.raises(PluginError, match="standard library"):
        build_encoder("subprocess:run", allowed=["subprocess"], args="true")
    with pytest.raises(PluginError, match="not allowed"):
        build_encoder("somepkg.enc:Enc")
    normalised = build_encoder("hashing-bow", dim=8, normalize="whitespace")
    assert normalised.config()["normalize"] == "whitespace"
    with pytest.raises(DataError, match="field 'normalize': unknown text normalisation 'bogus'"):
        build_encoder("hashing-bow", normalize="bogus")
    with pytest.raises(DataError, match="field 'threads': encoder 'hashing-bow': threads must be an integer >= 1"):
        build_encoder("hashing-bow", threads=0)
