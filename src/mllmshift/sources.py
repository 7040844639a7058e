r"""Embedding sources: n × d float32 rows that metrics and estimators read in row chunks.

Estimators and metrics take plain arrays or :class:`EmbeddingSource` objects. A source is read a chunk of
rows at a time (:meth:`EmbeddingSource.read`, :meth:`~EmbeddingSource.chunks`) or by row indices
(:meth:`~EmbeddingSource.take`, for mini-batches), so what is held in memory is bounded by the chunk, not by
n. The kinds:

- :class:`ArraySource`: an array already in memory (a chunk is a view, nothing is copied);
- :class:`NpySource`: a ``.npy`` file on disk, read chunk by chunk with plain reads into a buffer (its pages
  never become part of the process's memory; :meth:`~NpySource.take` maps the file only while it gathers);
- :class:`FusedSource`: the paper's fused input X = (Z_v + Z_t)/2, or [Z_v, Z_t], computed per chunk;
- :class:`ConcatSource`: sources stacked row-wise (the pooled pairs an estimator is fitted on).

A source also indexes like an array: ``src[a:b]`` reads rows, ``src[idx]`` takes them, and
``np.asarray(src)`` materialises the whole source (what code that is not chunk-aware gets; the
streaming paths never do that).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.errors import DataError

__all__ = ["EmbeddingSource", "ArraySource", "NpySource", "FusedSource", "ConcatSource", "CHUNK_BYTES",
           "chunk_rows", "iter_blocks"]

#: bytes of float32 rows a source reads at a time when the reader does not say
CHUNK_BYTES = 64 * 2**20


def chunk_rows(dim: int, budget_bytes: int = CHUNK_BYTES) -> int:
    """How many float32 rows of ``dim`` coordinates fit in ``budget_bytes`` (at least 1)."""
    return max(1, budget_bytes // max(1, 4 * dim))


class EmbeddingSource(ABC):
    """n × d float32 rows, read in chunks (see the module docstring)."""

    ndim = 2
    dtype = np.dtype(np.float32)
    #: what errors name (a file path, or a description)
    label: str = "embeddings"

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(n, d)``."""

    @abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as a float32 (rows × d) array."""

    def read_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Rows ``[start, stop)`` written into the first rows of ``out`` (float32, at least that many rows × d),
        returned as that view: a reader that reuses its buffers allocates nothing per block."""
        view = out[: stop - start]
        view[...] = self.read(start, stop)
        return view

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """The rows at ``indices`` (any order, repeats allowed), read chunk by chunk."""
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
        if len(idx) == 0:
            return out
        if idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"{self.label}: row index out of range [0, {len(self)})")
        order = np.argsort(idx, kind="stable")
        step = chunk_rows(self.shape[1])
        for start, block in self.chunks(step, int(idx[order[0]]), int(idx[order[-1]]) + 1):
            lo, hi = np.searchsorted(idx[order], [start, start + len(block)])
            sel = order[lo:hi]
            out[sel] = block[idx[sel] - start]
        return out

    def chunks(self, rows: int | None = None, start: int = 0,
               stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, block)`` for consecutive blocks of at most ``rows`` rows of ``[start, stop)``."""
        stop = len(self) if stop is None else stop
        rows = rows or chunk_rows(self.shape[1])
        for s in range(start, stop, rows):
            yield s, self.read(s, min(s + rows, stop))

    # ---------------------------------------------------------------- array-likeness
    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self.take(np.arange(start, stop, step))
            return self.read(start, max(start, stop))
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            return self.read(i, i + 1)[0]
        return self.take(np.asarray(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.read(0, len(self))
        return out if dtype is None else out.astype(dtype)

    def materialise(self) -> np.ndarray:
        """All rows in memory."""
        return self.read(0, len(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label}, shape={self.shape})"


def _check_finite(block: np.ndarray, label: str, first_row: int) -> None:
    if not np.isfinite(block).all():
        bad = int(np.argwhere(~np.isfinite(block))[0][0]) + first_row
        raise DataError(f"row {bad} contains NaN or infinite values", path=label, line=bad + 1)


class ArraySource(EmbeddingSource):
    """An in-memory array as a source (checked once; chunks are views)."""

    def __init__(self, array: np.ndarray, label: str = "array") -> None:
        a = np.asarray(array)
        if a.ndim != 2:
            raise ValueError(f"{label} must be 2-D (n × d), got shape {a.shape}")
        if a.dtype != np.float32:
            a = a.astype(np.float32)
        _check_finite(a, label, 0)
        self.array, self.label = np.ascontiguousarray(a), label

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape  # type: ignore[return-value]

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.array[np.asarray(indices, dtype=np.int64)]


class NpySource(EmbeddingSource):
    """A float32 ``.npy`` file of n × d rows, read with plain file reads, never held whole.

    Every block read is checked for NaN/inf (a :class:`~mllmshift.errors.DataError` names the file and row).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.label = str(self.path)
        try:
            with open(self.path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, fortran, dtype = header(fh)
                self._offset = fh.tell()
        except (OSError, ValueError) as err:
            raise DataError(f"not a readable .npy file: {err}", path=self.path) from None
        if len(shape) != 2 or fortran or np.dtype(dtype) != np.dtype("<f4"):
            raise DataError(f"expected a C-ordered little-endian float32 n × d array, got shape {shape}, "
                            f"dtype {dtype}{', Fortran order' if fortran else ''}", path=self.path)
        self._shape = (int(shape[0]), int(shape[1]))

    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(stop, len(self))
        return self.read_into(start, stop, np.empty((max(0, stop - start), self._shape[1]), dtype=np.float32))

    def read_into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        start, stop = max(0, start), min(stop, len(self))
        out = out[: max(0, stop - start)]
        if len(out):
            with open(self.path, "rb", buffering=0) as fh:
                fh.seek(self._offset + start * self._shape[1] * 4)
                got = fh.readinto(memoryview(out).cast("B"))
            if got != out.nbytes:
                raise DataError(f"file ends inside row {start + got // (4 * self._shape[1])}", path=self.path)
            _check_finite(out, self.label, start)
        return out

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        mm = np.load(self.path, mmap_mode="r")
        try:
            out = np.ascontiguousarray(mm[idx], dtype=np.float32)
        finally:
            del mm  # unmapped: its pages leave the process's memory
        if not np.isfinite(out).all():  # name the file's row, not the row's place among the indices taken
            bad = int(idx[int(np.argwhere(~np.isfinite(out))[0][0])])
            raise DataError(f"row {bad} contains NaN or infinite values", path=self.label, line=bad + 1)
        return out


class FusedSource(EmbeddingSource):
    """X from a visual and a text source, per chunk: ``mean`` (Z_v + Z_t)/2 or ``concat`` [Z_v, Z_t]."""

    def __init__(self, visual: EmbeddingSource, text: EmbeddingSource, kind: str) -> None:
        if kind not in ("mean", "concat"):
            raise ValueError(f"a fused source is 'mean' or 'concat', got {kind!r}")
        if len(visual) != len(text):
            raise ValueError(f"visual and text inputs differ in rows: {len(visual)} vs {len(text)}")
        if kind == "mean" and visual.shape[1] != text.shape[1]:
            raise ValueError(f"fusion 'mean' needs equal dims, got {visual.shape[1]} and {text.shape[1]}")
        self.visual, self.text, self.kind = visual, text, kind
        self.label = f"{kind}({visual.label}, {text.label})"

    @property
    def shape(self) -> tuple[int, int]:
        d = self.text.shape[1] + (self.visual.shape[1] if self.kind == "concat" else 0)
        return len(self.text), d

    def fuse_blocks(self, v: np.ndarray, t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """X of a visual and a text block already read (the same rows of each), into the first rows of ``out``
        when given (the same values)."""
        if out is None:
            if self.kind == "mean":
                return ((v + t) * np.float32(0.5)).astype(np.float32, copy=False)
            return np.concatenate([v, t], axis=1)
        out = out[: len(t)]
        if self.kind == "mean":
            np.add(v, t, out=out, dtype=np.float32)
            out *= np.float32(0.5)
            return out
        return np.concatenate([v, t], axis=1, out=out)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.fuse_blocks(self.visual.read(start, stop), self.text.read(start, stop))

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.fuse_blocks(self.visual.take(indices), self.text.take(indices))


class ConcatSource(EmbeddingSource):
    """Sources of equal dimension stacked row-wise."""

    def __init__(self, parts: Sequence[EmbeddingSource]) -> None:
        if not parts:
            raise ValueError("nothing to stack")
        dims = {p.shape[1] for p in parts}
        if len(dims) != 1:
            raise ValueError(f"stacked sources must have one dimension, got {sorted(dims)}")
        self.parts = tuple(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.label = " + ".join(p.label for p in parts)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.offsets[-1]), self.parts[0].shape[1]

    def read(self, start: int, stop: int) -> np.ndarray:
        blocks = []
        for k, part in enumerate(self.parts):
            lo, hi = max(start, self.offsets[k]), min(stop, self.offsets[k + 1])
            if lo < hi:
                blocks.append(part.read(int(lo - self.offsets[k]), int(hi - self.offsets[k])))
        if len(blocks) == 1:
            return blocks[0]
        return np.concatenate(blocks) if blocks else np.empty((0, self.shape[1]), np.float32)

    def take(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        for k in np.unique(part):
            sel = part == k
            out[sel] = self.parts[k].take(idx[sel] - self.offsets[k])
        return out


def _read(a: np.ndarray | EmbeddingSource, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
    if not isinstance(a, EmbeddingSource):
        return a[start:stop]
    return a.read(start, stop) if out is None else a.read_into(start, stop, out)


def iter_blocks(arrays: Sequence[np.ndarray | EmbeddingSource], rows: int, start: int = 0, stop: int | None = None,
                prefetch: bool = True, ring: int = 0) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(first row, [block of each array])`` for consecutive row blocks of at most ``rows`` rows.

    Arrays give views; sources are read, the next blocks in a background thread while the caller works on
    these (``prefetch``; file reads release the GIL), so reading overlaps computing. ``ring`` > 0 reads the
    sources into ``ring`` sets of buffers used in turn (at least 3 with ``prefetch``): block i's arrays are
    overwritten by block i + ring, so the caller must be done with a block ``ring − 1`` blocks later (with
    ring = 3: when it has received block i + 2). Without it every block is a new array: blocks of tens of
    MB that the allocator keeps and fragments (issue #23: 1 GB more peak memory for a pass over 100,000 rows
    of four 768-d files, 0.3 GB with the ring).
    """
    stop = len(arrays[0]) if stop is None else stop
    rows = max(1, rows)
    starts = list(range(start, stop, rows))
    if ring and prefetch and ring < 3:
        raise ValueError(f"a ring of buffers with prefetching needs at least 3 sets, got {ring}")
    bufs = [[np.empty((min(rows, stop - start), a.shape[1]), np.float32) if isinstance(a, EmbeddingSource) else None
             for a in arrays] for _ in range(ring if starts else 0)]

    def load(i: int) -> list[np.ndarray]:
        s, outs = starts[i], bufs[i % ring] if ring else [None] * len(arrays)
        return [_read(a, s, min(s + rows, stop), out) for a, out in zip(arrays, outs)]

    if not any(isinstance(a, EmbeddingSource) for a in arrays) or not prefetch or len(starts) < 2:
        for i, s in enumerate(starts):
            yield s, load(i)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, 0)
        for i, s in enumerate(starts):
            blocks = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(load, i + 1)
            yield s, blocks
