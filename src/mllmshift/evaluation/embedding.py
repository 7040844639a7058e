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

from mllmshift.components import Component
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.base import Encoder
from mllmshift.encoders.cache import EmbeddingCache
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
                progress: Progress | None = None) -> EmbeddedSplit:
    """One split through the encoders (and the cache), fused as :func:`split_fusion` says."""
    from mllmshift.encoders.pipeline import embed_split as embed

    image = encoders.image if split.has_images else None
    return embed(split, encoders.text, image, fusion=split_fusion(split, encoders.cfg), cache=cache,
                 progress=progress is not None)


def embed_splits(splits: Sequence[Split], encoders: Encoders, cache: EmbeddingCache | None,
                 progress: Progress | None = None) -> list[EmbeddedSplit]:
    """Every split through :func:`embed_split`."""
    return [embed_split(s, encoders, cache, progress) for s in tracked(splits, progress, "embed", len(splits), "split")]


def comparable(id_e: EmbeddedSplit, e: EmbeddedSplit) -> bool:
    """Whether X of ``e`` is built like the ID's (same fusion, visual source and dims), so MI terms compare."""
    same = all(id_e.metadata.get(k) == e.metadata.get(k) for k in ("fusion", "visual_source"))
    return same and id_e.x.shape[1] == e.x.shape[1] and (id_e.x_visual is None) == (e.x_visual is None)
