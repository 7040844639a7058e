"""A split of samples → an :class:`~mllmshift.embeddings.EmbeddedSplit`.

For a split of n samples, with text encoder f_t and optional image encoder f_v:

- ``x_text``   = f_t(questions);
- ``x_visual`` = f_v(image paths) when every sample has an image and f_v is given
  (``visual_source = "image"``); else f_t(image_text) when every sample has a
  textual stand-in for its image (``"image_text"``); else None;
- ``x``        = :func:`mllmshift.embeddings.fuse` (x_visual, x_text, fusion);
- ``response`` = f_t(responses), ``reference`` = f_t(references), each None when
  no sample has one.

A field present in some samples and missing in others is a data error naming the
first sample that lacks it. Every encoding goes through the cache when one is given.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.base import Encoder, check_counts
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.records import Split

VisualSource = Literal["image", "image_text"]


def check_encoder_options(name: str, *, normalize: str | None = None, threads: int | None = None,
                          allowed: Collection[str] = (), **options: Any) -> type[Encoder]:
    """The class of encoder ``name`` once its options are known to fit it, without building it (nothing loaded):
    a :class:`DataError` names an option the class does not take (field ``options``), a ``batch_size`` or
    ``threads`` that is not an integer ≥ 1, or an unknown ``normalize`` mode."""
    from mllmshift.components import component_class

    cls = component_class("encoder", name, allowed=allowed)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as err:
        accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "kwargs")]
        accepted += [extra for extra in ("normalize", "threads") if extra not in accepted]
        raise DataError(f"encoder '{name}' does not take these options ({err}); it takes: "
                        f"{', '.join(accepted)}", field="options") from None
    if "batch_size" in options:
        check_counts(name, batch_size=options["batch_size"])
    if normalize is not None:
        from mllmshift.encoders.text_normalisation import MODES

        if normalize not in MODES:
            raise DataError(f"unknown text normalisation {normalize!r} for encoder '{name}'; choose from "
                            f"{', '.join(sorted(MODES))}", field="normalize")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise DataError(f"encoder '{name}': threads must be an integer >= 1, got {threads!r}", field="threads")
    return cls


def build_encoder(name: str, *, normalize: str | None = None, threads: int | None = None,
                  allowed: Collection[str] = (), **options: Any) -> Encoder:
    """The encoder ``name`` built with ``options``: a registered name (see ``mllmshift encoders list``) or a
    ``package.module:Class`` plugin that :func:`mllmshift.plugins.load_plugin` allows (``allowed``: the
    allow-list of a config's ``plugins:`` / ``--allow-plugin``).

    Options the encoder does not take are a :class:`DataError` naming them, before anything is loaded.
    ``normalize`` (text encoders): ``"markdown"`` or ``"whitespace"`` rewrites every text before it is
    embedded and hashed, and is recorded in the encoder's config
    (:mod:`mllmshift.encoders.text_normalisation`). ``threads`` sets :attr:`Encoder.threads` (None: the
    encoder chooses with :func:`mllmshift.threads.choose_threads`, which inside a run answers the run's count).
    """
    cls = check_encoder_options(name, normalize=normalize, threads=threads, allowed=allowed, **options)
    try:
        encoder = cls(**options)
    except MllmshiftError:
        raise
    except (ValueError, TypeError) as err:  # a bad option value: reported, not recovered from
        raise DataError(f"cannot build encoder '{name}' with options {options}: {err}", field="options") from err
    if threads is not None:
        encoder.threads = threads
    if normalize is None:
        return encoder
    from mllmshift.encoders.text_normalisation import NormalisedText

    return NormalisedText(encoder, normalize)


def encoder_record(encoder: Encoder | None) -> dict[str, Any] | None:
    """What metadata keeps of an encoder: name, modality, dim, config and fingerprint."""
    if encoder is None:
        return None
    return {"name": encoder.name, "modality": encoder.modality, "dim": encoder.dim, "config": encoder.config(),
            "fingerprint": encoder.fingerprint()}


def _run(encoder: Encoder, items: Sequence[Any], cache: EmbeddingCache | None, progress: bool) -> np.ndarray:
    if cache is not None:
        return cache.encode(encoder, items, progress=progress)
    return encoder.encode(list(items), progress=progress)


def _complete_column(split: Split, field: str) -> list[Any] | None:
    """The values of ``field`` when every sample has one, None when none has; a DataError when only some do."""
    values = [getattr(s, field) for s in split.samples]
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        missing = next(s.id for s, ok in zip(split.samples, present) if not ok)
        raise DataError(f"split '{split.name}': {present.count(False)} of {len(values)} samples lack it "
                        f"(first: sample '{missing}'); give it for every sample or for none", field=field)
    return values


def _check_modality(encoder: Encoder, want: str, role: str) -> None:
    if encoder.modality != want:
        raise DataError(f"{role} must be a {want} encoder, got '{encoder.name}' ({encoder.modality})", field=role)


def _image_paths(split: Split) -> list[str]:
    paths = []
    for s in split.samples:
        assert s.image is not None
        p = Path(s.image)
        if not p.is_file():
            raise DataError(f"split '{split.name}', sample '{s.id}': image file not found", path=p, field="image")
        paths.append(str(p))
    return paths


def embed_split(split: Split, text_encoder: Encoder, image_encoder: Encoder | None = None, fusion: str = "auto",
                cache: EmbeddingCache | None = None, progress: bool = False) -> EmbeddedSplit:
    """Embed ``split`` (see the module docstring).

    ``metadata`` holds ``text_encoder`` and ``image_encoder`` (name, modality, dim, config, fingerprint;
    ``image_encoder`` is None unless images were encoded), ``visual_source`` (``"image"``,
    ``"image_text"`` or None), ``fusion`` (the one applied) and ``fusion_requested``.
    """
    _check_modality(text_encoder, "text", "text_encoder")
    if image_encoder is not None:
        _check_modality(image_encoder, "image", "image_encoder")
    if len(split) == 0:
        raise DataError(f"split '{split.name}' has no samples")
    for s in split.samples:
        if not isinstance(s.question, str):
            raise DataError(f"split '{split.name}', sample '{s.id}': question must be a string", field="question")

    x_text = _run(text_encoder, split.questions, cache, progress)

    visual_source: VisualSource | None = None
    x_visual = None
    images = _complete_column(split, "image") if image_encoder is not None else None
    if images is not None:
        assert image_encoder is not None
        x_visual = _run(image_encoder, _image_paths(split), cache, progress)
        visual_source = "image"
    elif split.has_image_text:
        x_visual = _run(text_encoder, [s.image_text for s in split.samples], cache, progress)
        visual_source = "image_text"

    responses = _complete_column(split, "response")
    references = _complete_column(split, "reference")
    response = _run(text_encoder, responses, cache, progress) if responses is not None else None
    reference = _run(text_encoder, references, cache, progress) if references is not None else None

    metadata = {
        "split": split.name,
        "n": len(split),
        "text_encoder": encoder_record(text_encoder),
        "image_encoder": encoder_record(image_encoder) if visual_source == "image" else None,
        "visual_source": visual_source,
        "fusion_requested": fusion,
    }
    return EmbeddedSplit.from_arrays(split.name, x_text=x_text, response=response, reference=reference,
                                     x_visual=x_visual, fusion=fusion, ids=split.ids, metadata=metadata)
