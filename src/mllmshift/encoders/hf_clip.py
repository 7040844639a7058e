"""A Hugging Face CLIP vision tower as the image encoder (the paper's choice).

For an image preprocessed by the CLIP image processor into ``P`` patches, with
``H = hidden_states[-1]`` the (1 + P) × d output of the last transformer layer
(token 0 is CLS, before ``post_layernorm``), the embedding is the mean of the
patch tokens, CLS excluded:

    z = (1 / P) · Σ_{p=1..P} H[p]  ∈ R^d,

then L2-normalised by :meth:`Encoder.encode`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.encoders.base import Encoder
from mllmshift.encoders.hf_common import (
    dtype_name,
    model_identity,
    require_transformers,
    resolve_device,
    resolve_dtype,
)
from mllmshift.encoders.images import ImageItem, load_rgb
from mllmshift.errors import DataError
from mllmshift.io.images import RGB_CONVERSION


def vision_tower(model: Any) -> Any:
    """The vision part of a ``CLIPModel`` (its ``vision_model``), or the model itself."""
    if hasattr(model, "vision_model") and hasattr(model, "text_model"):
        return model.vision_model
    return model


def vision_hidden_size(model: Any) -> int:
    cfg = model.config
    return int(getattr(cfg, "vision_config", cfg).hidden_size)


def processor_digest(processor: Any) -> str:
    """Class name and a digest of the processor's settings (they change the pixels the model sees)."""
    try:
        settings = processor.to_dict()
    except Exception:  # pragma: no cover - exotic processors
        settings = {k: v for k, v in vars(processor).items() if not k.startswith("_")}
    blob = json.dumps(settings, sort_keys=True, default=str)
    return f"{type(processor).__name__}:{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


class CLIPVision(Encoder):
    """Images → mean of last-layer CLIP patch tokens (d = the tower's hidden size, e.g. 1024 for ViT-L/14).

    Args:
        model_name_or_path: a local folder or hub name of a CLIP (or CLIP vision) checkpoint,
            loaded with ``CLIPVisionModel`` and ``CLIPImageProcessor`` on first use.
        device: torch device; None uses :func:`mllmshift.devices.current_device` (the CPU by default).
        dtype: ``"float32"`` (default), ``"float16"`` or ``"bfloat16"``.
        batch_size: images per forward pass.
        model, processor: an already built model (``CLIPVisionModel`` or ``CLIPModel``) and image
            processor, used instead of loading ``model_name_or_path``; without a name, the cache key
            uses a digest of the model's weights.
        local_files_only: passed to ``from_pretrained`` (no hub access).
    """

    name = "clip-vision"
    modality = "image"
    overlap_decode = True

    def __init__(self, model_name_or_path: str | None = None, device: str | None = None, dtype: Any = None,
                 batch_size: int = 16, *, model: Any = None, processor: Any = None,
                 local_files_only: bool = False) -> None:
        if model is None and not model_name_or_path:
            raise DataError("the clip-vision encoder needs model_name_or_path (a local folder or hub name of a CLIP "
                            "model) in its options", field="model_name_or_path")
        if (model is None) != (processor is None):
            raise DataError("give both model and processor, or neither", field="model")
        self.model_name_or_path = model_name_or_path
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.batch_size = int(batch_size)
        self.local_files_only = local_files_only
        self._model: Any = None
        self._processor = processor
        self._identity: str | None = None
        if model is not None:
            self._model = vision_tower(model).to(self.device, self.dtype).eval()
            self.dim = vision_hidden_size(self._model)
        else:
            transformers = require_transformers("encoder 'clip-vision'")
            cfg = transformers.AutoConfig.from_pretrained(model_name_or_path, local_files_only=local_files_only)
            self.dim = int(getattr(cfg, "vision_config", cfg).hidden_size)

    @property
    def model(self) -> Any:
        if self._model is None:
            transformers = require_transformers("encoder 'clip-vision'")
            model = transformers.CLIPVisionModel.from_pretrained(
                self.model_name_or_path, local_files_only=self.local_files_only)
            self._model = vision_tower(model).to(self.device, self.dtype).eval()
        return self._model

    @property
    def processor(self) -> Any:
        if self._processor is None:
            transformers = require_transformers("encoder 'clip-vision'")
            self._processor = transformers.CLIPImageProcessor.from_pretrained(
                self.model_name_or_path, local_files_only=self.local_files_only)
        return self._processor

    def decode_batch(self, items: Sequence[ImageItem]) -> Any:
        """The processor's ``pixel_values`` for ``items`` (RGB), on the CPU."""
        return self.processor(images=[load_rgb(item) for item in items], return_tensors="pt")["pixel_values"]

    def forward_batch(self, decoded: Any) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(pixel_values=decoded.to(self.device, self.dtype), output_hidden_states=True)
            pooled = out.hidden_states[-1][:, 1:, :].mean(dim=1)
        return pooled.float().cpu().numpy()

    def _encode_batch(self, items: Sequence[ImageItem]) -> np.ndarray:
        return self.forward_batch(self.decode_batch(items))

    def config(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = model_identity(self.model_name_or_path, self._model)
        return {"name": self.name, "model": self._identity, "dtype": dtype_name(self.dtype),
                "processor": processor_digest(self.processor), "pooling": "mean(hidden_states[-1][:, 1:])",
                "rgb": RGB_CONVERSION}
