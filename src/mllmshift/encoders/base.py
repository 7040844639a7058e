"""The encoder interface: items (texts or images) in, L2-normalised float32 rows out."""

from __future__ import annotations

import hashlib
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from mllmshift.errors import DataError

Modality = Literal["text", "image"]


def l2_normalise(a: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``a`` divided by their Euclidean norm (zero rows stay zero), as float32."""
    a = np.asarray(a, dtype=np.float32)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return (a / np.maximum(norms, eps)).astype(np.float32, copy=False)


def check_texts(items: Sequence[Any], what: str) -> list[str]:
    """``items`` as a list of strings, or a :class:`DataError` naming the first non-string."""
    out = list(items)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise DataError(f"{what}: item {i} is {type(t).__name__}, expected a string")
    return out


def check_counts(encoder: str, **counts: Any) -> None:
    """Raise a located :class:`~mllmshift.errors.DataError` unless every value is an integer >= 1 (a dimension,
    a batch size): an encoder option of the wrong type or range stops before anything is embedded."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"encoder '{encoder}': {name} must be an integer >= 1, got {value!r}", field=name)


class Encoder(ABC):
    """Maps a batch of items of one modality to an (n × dim) float32 array of unit rows.

    Subclasses set ``name`` (the registry name), ``modality`` and ``dim`` and
    implement :meth:`_encode_batch`. :meth:`fingerprint` identifies the exact
    function the encoder computes (name, weights, version, options) and keys
    the embedding cache.
    """

    name: str = "encoder"
    modality: Modality = "text"
    dim: int = 0
    batch_size: int = 32
    #: CPU threads (torch, BLAS, OpenMP) while encoding; None: chosen on first use by
    #: :func:`mllmshift.threads.choose_threads`. Does not change the output, so not in :meth:`config`.
    threads: int | None = None
    #: whether :meth:`encode` decodes the next batch (:meth:`decode_batch`, in a second thread) while the
    #: current one runs through the network (:meth:`forward_batch`): image encoders, whose decoding and
    #: resizing is CPU work that Pillow and numpy do outside the GIL. The output is the same either way.
    overlap_decode: bool = False

    @abstractmethod
    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        """Raw (not necessarily normalised) embeddings of one batch."""

    def decode_batch(self, items: Sequence[Any]) -> Any:
        """A batch's items as the network's input (e.g. images read, resized and normalised). Identity here:
        encoders that set :attr:`overlap_decode` split :meth:`_encode_batch` into this and :meth:`forward_batch`."""
        return items

    def forward_batch(self, decoded: Any) -> np.ndarray:
        """Raw embeddings of a batch :meth:`decode_batch` made; :meth:`_encode_batch` of it here."""
        return self._encode_batch(decoded)

    def prepare(self, item: Any) -> Any:
        """The item as the model sees it (e.g. a normalised text); the cache keys on this. Identity here."""
        return item

    def config(self) -> dict[str, Any]:
        """Options that change the output (written into results and the cache key)."""
        return {"name": self.name}

    def thread_count(self) -> int:
        """``threads``, chosen now (and kept) when it is None; a count chosen so is capped, call by call, at what
        the run's automatic choice reads now (:func:`mllmshift.follow_load.follow_cap`)."""
        from mllmshift.follow_load import follow_cap
        from mllmshift.threads import choose_threads

        if self.threads is None:
            self.threads = choose_threads().threads
            self._threads_chosen = True
        return follow_cap(self.threads) if getattr(self, "_threads_chosen", False) else self.threads

    def fingerprint(self) -> str:
        blob = json.dumps(self.config(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def encode(self, items: Sequence[Any], progress: bool = False) -> np.ndarray:
        """Embed ``items`` in batches with :meth:`thread_count` threads; returns L2-normalised float32 rows.
        With :attr:`overlap_decode`, batch k+1 is decoded while batch k runs through the network."""
        from concurrent.futures import ThreadPoolExecutor

        from mllmshift.threads import thread_limits

        if len(items) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        rng = range(0, len(items), self.batch_size)
        beat = None
        if progress and sys.stderr.isatty():  # a bar on a terminal only; never \r-updates into a log
            from tqdm.auto import tqdm

            rng = tqdm(rng, desc=f"encode[{self.name}]", unit="batch", file=sys.stderr)
        elif progress:  # in a log: a line at most every HEARTBEAT_INTERVAL_S while a long call runs
            from mllmshift.progress import Heartbeat

            unit = "texts" if self.modality == "text" else "images"
            beat = Heartbeat(sys.stderr, f"encode[{self.name}]", len(items), unit)
        with thread_limits(self.thread_count()), ThreadPoolExecutor(max_workers=1) as pool:
            decode = self.overlap_decode and len(items) > self.batch_size
            ahead = pool.submit(self.decode_batch, items[: self.batch_size]) if decode else None
            for start in rng:
                batch = items[start : start + self.batch_size]
                if ahead is None:
                    emb = np.asarray(self._encode_batch(batch), dtype=np.float32)
                else:
                    decoded = ahead.result()
                    nxt = items[start + self.batch_size : start + 2 * self.batch_size]
                    ahead = pool.submit(self.decode_batch, nxt) if len(nxt) else None
                    emb = np.asarray(self.forward_batch(decoded), dtype=np.float32)
                if emb.shape != (len(batch), self.dim):
                    raise RuntimeError(f"encoder {self.name} returned shape {emb.shape} for {len(batch)} items,"
                                       f" expected ({len(batch)}, {self.dim})")
                out.append(emb)
                if beat is not None:
                    beat.update(start + len(batch))
        return l2_normalise(np.concatenate(out, axis=0))
