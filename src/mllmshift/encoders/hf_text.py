"""A Hugging Face text model's embedding layer as the text encoder (the paper's XLM-R choice).

For a tokenised text with ids t_0 … t_{L−1} (t_0 the ``<s>``/CLS token), attention
mask m and ``E = hidden_states[0]`` (the embedding layer's output: token +
position (+ type) embeddings, after its LayerNorm), the embedding is the masked
mean over tokens excluding the first:

    z = Σ_{i≥1} m_i · E_i / Σ_{i≥1} m_i,

then L2-normalised by :meth:`Encoder.encode`. Right-padding leaves every row
unchanged (padding tokens have m_i = 0 and do not move real tokens' positions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.encoders.base import Encoder, check_texts
from mllmshift.encoders.hf_common import (
    dtype_name,
    model_identity,
    require_transformers,
    resolve_device,
    resolve_dtype,
)
from mllmshift.errors import DataError


def masked_mean_without_first(hidden: Any, mask: Any) -> Any:
    """Σ_{i≥1} m_i h_i / Σ_{i≥1} m_i over the token axis (a text of only ``<s>`` gives zeros)."""
    h, m = hidden[:, 1:, :], mask[:, 1:].to(hidden.dtype).unsqueeze(-1)
    return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def tokenizer_digest(tokenizer: Any) -> str:
    """Class name, vocabulary size and a digest of the vocabulary (it decides the ids)."""
    import hashlib
    import json

    vocab = tokenizer.get_vocab()
    blob = json.dumps(sorted(vocab.items()), ensure_ascii=False)
    return f"{type(tokenizer).__name__}:{len(vocab)}:{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


class HFEmbeddingLayer(Encoder):
    """Texts → masked mean of a text model's ``hidden_states[0]`` without the first token.

    Args:
        model_name_or_path: local folder or hub name (e.g. ``xlm-roberta-base``), loaded with
            ``AutoModel`` / ``AutoTokenizer`` on first use.
        device: torch device; None uses :func:`mllmshift.devices.current_device` (the CPU by default).
        max_length: tokens per text (longer texts are truncated).
        batch_size: texts per forward pass.
        dtype: ``"float32"`` (default), ``"float16"`` or ``"bfloat16"``.
        model, tokenizer: an already built model and tokenizer used instead of loading
            ``model_name_or_path``; without a name, the cache key uses a digest of the weights.
        local_files_only: passed to ``from_pretrained``.
    """

    name = "hf-embedding-layer"
    modality = "text"

    def __init__(self, model_name_or_path: str | None = None, device: str | None = None, max_length: int = 512,
                 batch_size: int = 16, dtype: Any = None, *, model: Any = None, tokenizer: Any = None,
                 local_files_only: bool = False) -> None:
        if model is None and not model_name_or_path:
            raise DataError("the hf-embedding-layer encoder needs model_name_or_path (a local folder or hub name of a "
                            "text model, e.g. xlm-roberta-base) in its options", field="model_name_or_path")
        if (model is None) != (tokenizer is None):
            raise DataError("give both model and tokenizer, or neither", field="model")
        self.model_name_or_path = model_name_or_path
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.local_files_only = local_files_only
        self._tokenizer = tokenizer
        self._model: Any = None
        self._identity: str | None = None
        if model is not None:
            self._model = model.to(self.device, self.dtype).eval()
            self.dim = int(model.config.hidden_size)
        else:
            transformers = require_transformers("encoder 'hf-embedding-layer'")
            cfg = transformers.AutoConfig.from_pretrained(model_name_or_path, local_files_only=local_files_only)
            self.dim = int(cfg.hidden_size)

    @property
    def model(self) -> Any:
        if self._model is None:
            transformers = require_transformers("encoder 'hf-embedding-layer'")
            model = transformers.AutoModel.from_pretrained(self.model_name_or_path,
                                                           local_files_only=self.local_files_only)
            self._model = model.to(self.device, self.dtype).eval()
        return self._model

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            transformers = require_transformers("encoder 'hf-embedding-layer'")
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_name_or_path,
                                                                         local_files_only=self.local_files_only)
        return self._tokenizer

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        import torch

        texts = check_texts(items, self.name)
        if getattr(self.tokenizer, "padding_side", "right") != "right":
            raise ValueError("HFEmbeddingLayer needs a right-padding tokenizer (positions must not shift)")
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        tok = {k: v.to(self.device) for k, v in tok.items()}
        with torch.inference_mode():
            out = self.model(**tok, output_hidden_states=True)
            pooled = masked_mean_without_first(out.hidden_states[0], tok["attention_mask"])
        return pooled.float().cpu().numpy()

    def config(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = model_identity(self.model_name_or_path, self._model)
        return {"name": self.name, "model": self._identity, "dtype": dtype_name(self.dtype),
                "max_length": self.max_length, "tokenizer": tokenizer_digest(self.tokenizer),
                "pooling": "masked_mean(hidden_states[0][:, 1:])"}
