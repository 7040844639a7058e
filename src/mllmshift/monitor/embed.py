"""Embeddings of the reference window and of stream records, with the encoders of the pipeline.

The reference goes through :func:`mllmshift.encoders.pipeline.embed_split`; stream records are
embedded in batches as they arrive, with the same encoders, the same content cache and the
reference's visual source and fusion, so a record's rows equal what ``embed_split`` would give it:

- ``x_text`` = f_t(question), ``response`` = f_t(response), ``reference`` = f_t(reference) where the
  record has one (a zero row and ``labelled = False`` where it has none);
- ``x_visual`` = f_v(image) when the reference has images, f_t(image_text) when it has textual stand-ins,
  none when it has neither; a record without the reference's kind of visual input is malformed;
- ``x`` = :func:`mllmshift.embeddings.fuse` (x_visual, x_text) with the reference's fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit, fuse
from mllmshift.encoders.base import Encoder
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.monitor.stream import StreamRecord
from mllmshift.records import Split


def check_reference(reference: Split) -> None:
    """Stop before anything is embedded or written when the reference cannot serve: fewer than
    :data:`~mllmshift.vocab.MIN_SAMPLES` records, or a record without a model answer (the ``answer`` term and
    every null compare answers). Reference answers are optional (records without one serve the drift terms)."""
    from mllmshift.evaluation.checks import source_of
    from mllmshift.vocab import MIN_SAMPLES

    if len(reference) < MIN_SAMPLES:
        raise DataError(f"the reference '{reference.name}' has {len(reference)} record(s); the monitor needs at "
                        f"least {MIN_SAMPLES}", path=source_of(reference))
    missing = next((s.id for s in reference.samples if s.response is None), None)
    if missing is not None:
        raise DataError(f"the reference '{reference.name}' needs a model answer for every record; record "
                        f"'{missing}' has none", path=source_of(reference), field="response")


@dataclass(frozen=True)
class Rows:
    """The arrays of a set of records (reference or window), one row per record."""

    ids: tuple[str, ...]
    x_text: np.ndarray
    response: np.ndarray
    reference: np.ndarray
    labelled: np.ndarray
    x_visual: np.ndarray | None
    fusion: str
    sources: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def x(self) -> np.ndarray:
        """The fused input X."""
        return fuse(self.x_visual, self.x_text, self.fusion)

    def take(self, idx: Sequence[int] | np.ndarray) -> Rows:
        i = np.asarray(idx, dtype=np.int64)
        return Rows(tuple(self.ids[k] for k in i), self.x_text[i], self.response[i], self.reference[i],
                    self.labelled[i], None if self.x_visual is None else self.x_visual[i], self.fusion,
                    tuple(self.sources[k] for k in i) if self.sources else ())

    def field(self, name: str) -> np.ndarray | None:
        """``visual`` / ``text`` / ``response`` / ``reference`` rows by name."""
        return {"visual": self.x_visual, "text": self.x_text, "response": self.response,
                "reference": self.reference}[name]

    @classmethod
    def from_split(cls, split: EmbeddedSplit) -> Rows:
        if split.response is None:
            raise DataError(f"the reference '{split.name}' has no model answers (response); the monitor compares "
                            f"the stream's answers with them", field="response")
        n = len(split)
        labelled = np.full(n, split.reference is not None)
        reference = split.reference if split.reference is not None else np.zeros_like(split.response)
        return cls(tuple(split.ids), split.x_text, split.response, reference, labelled, split.x_visual,
                   str(split.metadata.get("fusion", "text")))

    @classmethod
    def stack(cls, rows: Sequence[RecordRows], fusion: str) -> Rows:
        vis = None if rows[0].x_visual is None else np.stack([r.x_visual for r in rows])  # type: ignore[misc]
        return cls(tuple(r.record.id for r in rows), np.stack([r.x_text for r in rows]),
                   np.stack([r.response for r in rows]), np.stack([r.reference for r in rows]),
                   np.array([r.labelled for r in rows], dtype=bool), vis, fusion,
                   tuple(r.record.source for r in rows))


@dataclass(frozen=True)
class RecordRows:
    """One stream record with its embedding rows."""

    record: StreamRecord
    x_text: np.ndarray
    response: np.ndarray
    reference: np.ndarray
    labelled: bool
    x_visual: np.ndarray | None


class RecordEmbedder:
    """Embeds stream records the way the reference was embedded (see the module docstring)."""

    def __init__(self, text_encoder: Encoder, image_encoder: Encoder | None, visual_source: str | None,
                 fusion: str, cache: EmbeddingCache | None = None) -> None:
        if visual_source == "image" and image_encoder is None:
            raise ValueError("a reference with images needs an image encoder")
        self.text, self.image, self.visual_source = text_encoder, image_encoder, visual_source
        self.fusion, self.cache = fusion, cache

    def _encode(self, encoder: Encoder, items: list[Any]) -> np.ndarray:
        return self.cache.encode(encoder, items) if self.cache is not None else encoder.encode(items)

    def check(self, r: StreamRecord) -> DataError | None:
        """Why the record cannot be embedded like the reference, or None."""
        if self.visual_source == "image":
            if r.image is None:
                return r.error("missing (the reference has images)", "image")
            if not Path(r.image).is_file():
                return r.error(f"image file not found: {r.image}", "image")
        if self.visual_source == "image_text" and r.image_text is None:
            return r.error("missing (the reference's visual input is image_text)", "image_text")
        return None

    def embed(self, records: Sequence[StreamRecord]) -> list[RecordRows | DataError]:
        """For each record, in order, its rows or a located error saying why it cannot be embedded."""
        out: list[RecordRows | DataError | None] = [self.check(r) for r in records]
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            try:
                for i, rows in zip(todo, self._batch([records[i] for i in todo])):
                    out[i] = rows
            except (MllmshiftError, OSError, ValueError):  # one bad item spoils the batch: find it alone
                for i in todo:
                    try:
                        out[i] = self._batch([records[i]])[0]
                    except (MllmshiftError, OSError, ValueError) as err:
                        out[i] = records[i].error(f"cannot embed: {err}")
        return out  # type: ignore[return-value]

    def _batch(self, records: Sequence[StreamRecord]) -> list[RecordRows]:
        x_text = self._encode(self.text, [r.question for r in records])
        response = self._encode(self.text, [r.response for r in records])
        labelled = [r.reference is not None for r in records]
        reference = np.zeros_like(response)
        if any(labelled):
            idx = [i for i, ok in enumerate(labelled) if ok]
            reference[idx] = self._encode(self.text, [records[i].reference for i in idx])
        x_visual = None
        if self.visual_source == "image":
            assert self.image is not None
            x_visual = self._encode(self.image, [r.image for r in records])
        elif self.visual_source == "image_text":
            x_visual = self._encode(self.text, [r.image_text for r in records])
        return [RecordRows(r, x_text[i], response[i], reference[i], labelled[i],
                           None if x_visual is None else x_visual[i]) for i, r in enumerate(records)]
