"""A meaningless but deterministic encoder, for tests and dry runs of a pipeline.

Each item maps to a standard normal vector drawn from a generator seeded by
the SHA-256 of its content (the text's UTF-8 bytes, or the image's content
digest of :func:`mllmshift.encoders.images.content_digest`) and ``seed``:
equal items give equal rows, distinct items give independent random rows.
No model, no download, microseconds per item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.encoders.base import Encoder, Modality, check_counts, check_texts
from mllmshift.encoders.images import content_digest
from mllmshift.errors import DataError


class HashEncoder(Encoder):
    """Items → N(0, I_dim) vectors seeded by their content hash (then unit-normalised)."""

    name = "content-hash"

    def __init__(self, dim: int = 32, modality: Modality = "text", seed: int = 0, batch_size: int = 32) -> None:
        if modality not in ("text", "image"):
            raise DataError(f"modality must be 'text' or 'image', got {modality!r}", field="modality")
        check_counts(self.name, dim=dim, batch_size=batch_size)
        self.dim = int(dim)
        self.modality = modality
        self.seed = int(seed)
        self.batch_size = int(batch_size)

    def content(self, item: Any) -> bytes:
        if self.modality == "text":
            return check_texts([item], self.name)[0].encode("utf-8")
        return content_digest(item)

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        rows = []
        for item in items:
            digest = hashlib.sha256(self.seed.to_bytes(8, "little", signed=True) + self.content(item)).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
            rows.append(rng.standard_normal(self.dim))
        return np.asarray(rows, dtype=np.float32).reshape(len(items), self.dim)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "modality": self.modality, "seed": self.seed}
