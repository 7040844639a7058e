"""A deterministic hashed bag-of-words text encoder: no model, no download.

Each lower-cased word (and each word bigram) adds ±1 to one of ``dim``
coordinates chosen by a stable hash (the signed hashing trick), and rows are
L2-normalised. Texts sharing words get similar vectors. It exists for tests,
smoke runs and quick looks; use a pretrained encoder for real studies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.encoders.base import Encoder, check_counts
from mllmshift.errors import DataError

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingBOW(Encoder):
    name = "hashing-bow"
    modality = "text"

    def __init__(self, dim: int = 256, bigrams: bool = True, batch_size: int = 256) -> None:
        check_counts(self.name, dim=dim, batch_size=batch_size)
        if not isinstance(bigrams, bool):
            raise DataError(f"encoder '{self.name}': bigrams must be true or false, got {bigrams!r}", field="bigrams")
        self.dim = dim
        self.bigrams = bigrams
        self.batch_size = batch_size

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "bigrams": self.bigrams, "version": 1}

    def _slot(self, token: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
        return h % self.dim, (1.0 if (h >> 63) & 1 else -1.0)

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, text in enumerate(items):
            words = _WORD.findall(str(text).lower())
            tokens = words + ([f"{a} {b}" for a, b in zip(words, words[1:])] if self.bigrams else [])
            for tok in tokens:
                j, sign = self._slot(tok)
                out[i, j] += sign
        return out
