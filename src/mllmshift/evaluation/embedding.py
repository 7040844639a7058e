"""Step 1 of the pipeline: splits → embeddings, through the configured encoders and the shared content cache.

:class:`Encoders` builds the configured encoders on first use (the image encoder only when a split has
images); :func:`embed_split` embeds one split, fused as :func:`split_fusion` says; :func:`comparable`
says whether two splits' inputs X are built alike (so their MI terms compare). The content cache is
:func:`default_cache_dir` (``~/.cache/mllmshift``) unless told otherwise, shared by every verb.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.components import Component
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.base import Encoder
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.encoders.store import EmbeddingStore
from mllmshift.evaluation.config import EvalConfig
from mllmshift.progress import Progress, tracked
from mllmshift.provenance import stable_hash
from mllmshift.records import Split


def default_cache_dir() -> Path:
    """``$MLLMSHIFT_CACHE``, else ``$XDG_CACHE_HOME/mllmshift``, else ``~/.cache/mllmshift``."""
    if os.environ.get("MLLMSHIFT_CACHE"):
        return Path(os.environ["MLLMSHIFT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mllmshift"


def open_cache(cache_dir: str | os.PathLike[str] | None) -> EmbeddingCache | None:
    """The content cache at ``cache_dir`` (None: no cache)."""
    return None if cache_dir is None else EmbeddingCache(cache_dir)


@dataclass
class Encoders:
    """The configured encoders, built on first use (an image encoder only when a split has images)."""

    cfg: EvalConfig
    _text: Encoder | None = None
    _image: Encoder | None = None

    @property
    def text(self) -> Encoder:
        if self._text is None:
            self._text = self._build(self.cfg.text_encoder)
        return self._text

    @property
    def image(self) -> Encoder | None:
        if self._image is None and self.cfg.image_encoder is not None:
            self._image = self._build(self.cfg.image_encoder)
        return self._image

    def _build(self, comp: Component) -> Encoder:
        """``build_encoder(name, **options)``: ``normalize`` and ``threads`` are options like any other, and
        options the encoder does not take are a located error before anything loads."""
        from mllmshift.encoders.pipeline import build_encoder

        return build_encoder(comp.name, allowed=self.cfg.plugins, **dict(comp.options))

    def key(self, split: Split) -> str:
        """A hash of what embedding ``split`` depends on: its content, the encoders it uses and its fusion."""
        from mllmshift.evaluation.samples import split_fingerprint

        image = self.image.fingerprint() if split.has_images and self.image is not None else None
        return stable_hash([split_fingerprint(split), self.text.fingerprint(), image, split_fusion(split, self.cfg)],
                           24)

    def info(self) -> dict[str, Any]:
        """Config and fingerprint of each encoder used (the image encoder only if a split had images), and the
        fusion (what results record)."""
        image = self._image
        return {"text": {"config": self.text.config(), "fingerprint": self.text.fingerprint()},
                "image": None if image is None else {"config": image.config(), "fingerprint": image.fingerprint()},
                "fusion": self.cfg.fusion}


def split_fusion(split: Split, cfg: EvalConfig) -> str:
    """The configured fusion, or ``text`` for a split with no visual input at all (e.g. in-the-wild without
    captions): its X is then the question alone, and it is not comparable with an ID split that has one."""
    has_visual = (split.has_images and cfg.image_encoder is not None) or split.has_image_text
    return cfg.fusion if has_visual or cfg.fusion == "auto" else "text"


def embed_split(split: Split, encoders: Encoders, cache: EmbeddingCache | None,
                progress: Progress | None = None, store: EmbeddingStore | None = None) -> EmbeddedSplit:
    """One split through the encoders (and the cache), fused as :func:`split_fusion` says; with ``store``,
    the split's embeddings on disk instead (streamed; an error unless they were made from this split's
    content with these encoders: :meth:`Encoders.key`). With ``progress``, says its :class:`Throughput` line
    (texts/s, images/s) when embedded here."""
    import time

    from mllmshift.encoders.pipeline import embed_split as embed

    if store is not None:
        return store.load(split.name, split_fusion(split, encoders.cfg), key=encoders.key(split))
    image = encoders.image if split.has_images else None
    t0 = time.perf_counter()
    e = embed(split, encoders.text, image, fusion=split_fusion(split, encoders.cfg), cache=cache,
              progress=progress is not None)
    if progress is not None:
        progress.say(Throughput.of(e, time.perf_counter() - t0).line())
    return e


def embed_splits(splits: Sequence[Split], encoders: Encoders, cache: EmbeddingCache | None,
                 progress: Progress | None = None, store: EmbeddingStore | None = None) -> list[EmbeddedSplit]:
    """Every split through :func:`embed_split`."""
    return [embed_split(s, encoders, cache, progress, store)
            for s in tracked(splits, progress, "embed", len(splits), "split")]


@dataclass(frozen=True)
class Throughput:
    """What embedding one split took: texts and images embedded (cached ones included), seconds."""

    split: str
    texts: int
    images: int
    seconds: float

    @staticmethod
    def items(e: EmbeddedSplit) -> tuple[int, int]:
        """(texts, images) behind ``e``'s rows: a text per row of each text field (questions, responses,
        references, captions standing in for images), an image per row when X's visual part is images."""
        source = e.metadata.get("visual_source")
        fields = sum(a is not None for a in (e.x_text, e.response, e.reference)) + (source == "image_text")
        return len(e) * fields, len(e) * (source == "image")

    @classmethod
    def of(cls, e: EmbeddedSplit, seconds: float) -> Throughput:
        return cls(e.name, *cls.items(e), seconds)

    def line(self) -> str:
        rate = lambda k: k / self.seconds if self.seconds > 0 else float("inf")  # noqa: E731
        return (f"embed {self.split}: {self.texts:,} texts ({rate(self.texts):,.0f} texts/s)"
                + (f", {self.images:,} images ({rate(self.images):,.0f} images/s)" if self.images else "")
                + f" in {self.seconds:.1f} s")


def embed_to_store(split: Split, encoders: Encoders, cache: EmbeddingCache | None, store: EmbeddingStore,
                   chunk: int = 8192) -> Throughput:
    """Embed ``split`` into ``store`` a chunk of samples at a time (memory bounded by the chunk).

    Within a chunk the samples are encoded in order of text length (batches of similar length pad less)
    and written back in the split's order; a chunk's rows are written by a background thread while the next
    chunk is embedded.
    """
    import time
    from concurrent.futures import ThreadPoolExecutor

    from mllmshift.encoders.pipeline import embed_split as embed

    writer = store.writer(split.name)
    fusion = split_fusion(split, encoders.cfg)
    image = encoders.image if split.has_images else None
    texts = images = 0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for s in range(0, len(split), chunk):
            part = split.samples[s : s + chunk]
            order = sorted(range(len(part)), key=lambda i: sum(len(t or "") for t in (
                part[i].question, part[i].response, part[i].reference, part[i].image_text)))
            e = embed(Split(split.name, [part[i] for i in order], split.metadata), encoders.text, image,
                      fusion=fusion, cache=cache)
            e = e.subset(np.argsort(order))
            k_texts, k_images = Throughput.items(e)
            texts, images = texts + k_texts, images + k_images
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.append, e)
        if pending is not None:
            pending.result()
    writer.close(encoders.key(split))
    return Throughput(split.name, texts, images, time.perf_counter() - t0)


def comparable(id_e: EmbeddedSplit, e: EmbeddedSplit) -> bool:
    """Whether X of ``e`` is built like the ID's (same fusion, visual source and dims), so MI terms compare."""
    same = all(id_e.metadata.get(k) == e.metadata.get(k) for k in ("fusion", "visual_source"))
    return same and id_e.x.shape[1] == e.x.shape[1] and (id_e.x_visual is None) == (e.x_visual is None)
