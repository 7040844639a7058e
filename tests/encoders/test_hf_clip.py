"""CLIP vision tower: mean of last-layer patch tokens, checked against a manual computation on a tiny random model."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from mllmshift.encoders import encoders  # noqa: E402
from mllmshift.encoders.hf_clip import CLIPVision  # noqa: E402
from mllmshift.errors import DataError  # noqa: E402

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32,
              patch_size=8)


def tiny_processor() -> object:
    cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    return cls(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


@pytest.fixture(scope="module")
def tiny() -> tuple[object, object]:
    torch.manual_seed(0)
    model = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**VISION)).eval()
    return model, tiny_processor()


@pytest.fixture(scope="module")
def pictures() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)) for h, w in
            [(40, 50), (32, 32), (64, 48)]]


def manual(model: object, processor: object, images: list[Image.Image]) -> np.ndarray:
    rows = []
    for im in images:  # one image at a time, no batching
        pv = processor(images=[im], return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            h = model(pixel_values=pv, output_hidden_states=True).hidden_states[-1][0]
        assert h.shape == (1 + (32 // 8) ** 2, 32)
        v = h[1:].mean(0).numpy()
        rows.append(v / np.linalg.norm(v))
    return np.stack(rows)


def test_matches_manual_patch_mean_and_is_unit_norm(tiny, pictures) -> None:
    model, processor = tiny
    enc = CLIPVision(model=model, processor=processor, device="cpu", batch_size=2)
    assert enc.dim == 32
    e = enc.encode(pictures)
    assert e.shape == (3, 32) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(e, manual(model, processor, pictures), atol=1e-5)


def test_excludes_cls_token(tiny, pictures) -> None:
    model, processor = tiny
    pv = processor(images=pictures[:1], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        h = model(pixel_values=pv, output_hidden_states=True).hidden_states[-1][0]
    with_cls = h.mean(0).numpy()
    e = CLIPVision(model=model, processor=processor, device="cpu").encode(pictures[:1])[0]
    assert abs(e @ (with_cls / np.linalg.norm(with_cls))) < 1 - 1e-4


def test_full_clip_model_uses_its_vision_tower(tiny, pictures) -> None:
    vision_model, processor = tiny
    cfg = transformers.CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                         vocab_size=64, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=VISION, projection_dim=16)
    full = transformers.CLIPModel(cfg).eval()
    full.vision_model.load_state_dict(vision_model.state_dict())
    a = CLIPVision(model=full, processor=processor, device="cpu").encode(pictures)
    b = CLIPVision(model=vision_model, processor=processor, device="cpu").encode(pictures)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_loads_from_a_saved_folder_through_the_registry(tiny, pictures, tmp_path: Path) -> None:
    model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    enc = encoders.create("clip-vision", model_name_or_path=str(tmp_path), device="cpu", local_files_only=True)
    assert enc.dim == 32 and enc._model is None
    np.testing.assert_allclose(enc.encode(pictures), manual(model, processor, pictures), atol=1e-5)
    assert enc.config()["model"] == str(tmp_path)


def test_fingerprint_tells_weights_apart(tiny) -> None:
    model, processor = tiny
    torch.manual_seed(1)
    other = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(**VISION))
    a = CLIPVision(model=model, processor=processor, device="cpu")
    b = CLIPVision(model=other, processor=processor, device="cpu")
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == CLIPVision(model=model, processor=processor, device="cpu").fingerprint()
    half = CLIPVision(model=copy.deepcopy(model), processor=processor, device="cpu", dtype="bfloat16")
    assert a.fingerprint() != half.fingerprint()


def test_bad_arguments_and_unreadable_image(tiny, tmp_path: Path) -> None:
    model, processor = tiny
    with pytest.raises(ValueError, match="model_name_or_path"):
        CLIPVision()
    with pytest.raises(ValueError, match="both"):
        CLIPVision(model=model)
    bad = tmp_path / "x.png"
    bad.write_text("no image here")
    with pytest.raises(DataError, match=r"x\.png: not an image file"):
        CLIPVision(model=model, processor=processor, device="cpu").encode([bad])
