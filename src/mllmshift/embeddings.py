"""Embedded splits: the plain arrays that estimators and metrics work on.

Once a split leaves :mod:`mllmshift.encoders` it is an :class:`EmbeddedSplit`
of float32 arrays (or :class:`~mllmshift.sources.EmbeddingSource` objects: rows on disk, read in chunks),
one row per sample, in the split's sample order:

- ``x_visual`` (n × d_v): the image query ``Z_v`` (or the embedding of a
  textual stand-in for the image), None for text-only data;
- ``x_text`` (n × d_t): the text query ``Z_t``;
- ``x`` (n × d_x): the fused input ``X`` (see :func:`fuse`);
- ``response`` (n × d_y): the model response ``Ŷ``;
- ``reference`` (n × d_y): the reference response ``Y`` (None where a split has none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mllmshift.sources import ArraySource, EmbeddingSource, FusedSource
from mllmshift.vocab import FUSIONS

Fusion = Literal["auto", "mean", "concat", "text"]


def resolve_fusion(fusion: str, d_visual: int | None, d_text: int) -> str:
    """The concrete fusion for ``auto``: text without a visual input, mean for equal dims, else concat."""
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion '{fusion}'; choose from {FUSIONS}")
    if d_visual is None:
        if fusion in ("mean", "concat"):
            raise ValueError(f"fusion '{fusion}' needs a visual input, and this split has none")
        return "text"
    if fusion != "auto":
        if fusion == "mean" and d_visual != d_text:
            raise ValueError(f"fusion 'mean' needs equal dims, got visual {d_visual} and text {d_text}; use 'concat'")
        return fusion
    return "mean" if d_visual == d_text else "concat"


def fuse(x_visual: Any, x_text: Any, fusion: str = "auto") -> Any:
    """The fused input X of the paper.

    - ``mean``: X = (Z_v + Z_t) / 2 (the paper's choice; needs equal dims);
    - ``concat``: X = [Z_v, Z_t] (default when the dims differ);
    - ``text``: X = Z_t (no visual input);
    - ``auto``: the first that applies, as :func:`resolve_fusion` says.

    Arrays give an array; when either input is an :class:`~mllmshift.sources.EmbeddingSource` (rows on
    disk), X is a :class:`~mllmshift.sources.FusedSource` computed chunk by chunk as it is read.
    """
    kind = resolve_fusion(fusion, None if x_visual is None else x_visual.shape[1], x_text.shape[1])
    if kind == "text":
        return x_text if isinstance(x_text, EmbeddingSource) else np.asarray(x_text, dtype=np.float32)
    assert x_visual is not None
    if isinstance(x_visual, EmbeddingSource) or isinstance(x_text, EmbeddingSource):
        wrap = lambda a: a if isinstance(a, EmbeddingSource) else ArraySource(a)  # noqa: E731
        return FusedSource(wrap(x_visual), wrap(x_text), kind)
    if x_visual.shape[0] != x_text.shape[0]:
        raise ValueError(f"visual and text inputs differ in rows: {x_visual.shape[0]} vs {x_text.shape[0]}")
    if kind == "mean":
        return ((np.asarray(x_visual, np.float32) + np.asarray(x_text, np.float32)) * 0.5).astype(np.float32)
    return np.concatenate([x_visual, x_text], axis=1).astype(np.float32, copy=False)


@dataclass(frozen=True)
class EmbeddedSplit:
    """The arrays of one split (see the module docstring)."""

    name: str
    ids: tuple[str, ...]
    x_text: np.ndarray
    x: np.ndarray
    response: np.ndarray | None
    reference: np.ndarray | None = None
    x_visual: np.ndarray | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        for label in ("x_text", "x", "response", "reference", "x_visual"):
            arr = getattr(self, label)
            if arr is not None and (arr.ndim != 2 or arr.shape[0] != n):
                raise ValueError(f"EmbeddedSplit '{self.name}': {label} has shape {arr.shape}, expected ({n}, d)")

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_arrays(cls, name: str, *, x_text: np.ndarray, response: np.ndarray | None,
                    reference: np.ndarray | None = None, x_visual: np.ndarray | None = None,
                    fusion: str = "auto", ids: Sequence[str] | None = None,
                    metadata: Mapping[str, Any] | None = None) -> EmbeddedSplit:
        """Build from arrays, fusing the input with :func:`fuse`."""
        n = x_text.shape[0]
        meta = dict(metadata or {})
        meta.setdefault("fusion", resolve_fusion(fusion, None if x_visual is None else x_visual.shape[1],
                                                 x_text.shape[1]))
        return cls(name=name, ids=tuple(ids) if ids is not None else tuple(str(i) for i in range(n)),
                   x_text=x_text, x=fuse(x_visual, x_text, fusion), response=response, reference=reference,
                   x_visual=x_visual, metadata=meta)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> EmbeddedSplit:
        """Rows at ``indices`` (with repetition allowed, as bootstrap needs)."""
        idx = np.asarray(indices, dtype=np.int64)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return EmbeddedSplit(name=name or self.name, ids=tuple(self.ids[i] for i in idx), x_text=self.x_text[idx],
                             x=self.x[idx], response=take(self.response), reference=take(self.reference),
                             x_visual=take(self.x_visual), metadata=self.metadata)
