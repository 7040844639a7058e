"""Checks every reader applies to what it read, so no split reaches the estimators silently wrong.

- **Ids** (:func:`sample_id`): a string or an integer. ``id: true``, ``1.5``, lists and blank strings
  are located errors (YAML/JSON ``true`` would otherwise become the id ``"True"``).
- **Empty answers** (:func:`finish_split`): a response, reference or caption (``image_text``) that is
  empty or whitespace only is a located error; with ``allow_empty=True`` (``--allow-empty-answers``)
  they are kept, and the split's metadata says which (``empty``) and carries a warning (``warnings``).
- **One visual input per split**: the visual input of a split is the images when every sample has
  one, else the captions when every sample has one, else none. A sample without an image among
  samples with images (or without a caption among captioned samples without images) would switch
  the whole split's input, so it is a located error naming its line; ``allow_mixed_visual=True``
  (``--allow-mixed-visual``) accepts it with a warning in the metadata.

``split.metadata["warnings"]`` (a list of sentences) is what results and reports show the user.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mllmshift.errors import DataError
from mllmshift.records import Sample, Split

#: sample fields that must not be empty or whitespace only unless allowed
ANSWER_FIELDS = ("response", "reference", "image_text")


def sample_id(value: Any, *, path: str | os.PathLike[str] | None, line: int | None, field: str = "id") -> str:
    """``value`` as a sample id: a non-blank string or an integer (not a boolean), else a located error."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"an id must be a string or an integer, got {type(value).__name__} {value!r}", path=path,
                        line=line, field=field)
    text = str(value)
    if not text.strip():
        raise DataError("an id must not be empty", path=path, line=line, field=field)
    return text


@dataclass(frozen=True)
class Origin:
    """Where a sample was read: its record (``path``, ``line``), and for fields read from elsewhere
    (a LLaVA references file, a column of another name) their own ``(path, line, name)``."""

    path: str | os.PathLike[str] | None
    line: int | None
    fields: Mapping[str, tuple[str | os.PathLike[str] | None, int | None, str]] = field(default_factory=dict)

    def error(self, message: str, sample_field: str) -> DataError:
        path, line, name = self.fields.get(sample_field, (self.path, self.line, sample_field))
        return DataError(message, path=path, line=line, field=name)


def _blank(value: str | None) -> bool:
    return value is not None and not value.strip()


def finish_split(name: str, samples: Sequence[Sample], origins: Sequence[Origin], metadata: Mapping[str, Any], *,
                 allow_empty: bool = False, allow_mixed_visual: bool = False) -> Split:
    """The :class:`Split` of ``samples`` after the checks of the module docstring.

    Args:
        origins: where each sample was read (same order as ``samples``), for located errors.
        allow_empty: keep empty or whitespace-only answers, with a warning in the metadata.
        allow_mixed_visual: accept a split where only some samples have an image (or a caption),
            with a warning in the metadata.
    """
    assert len(samples) == len(origins)
    if not samples:
        raise DataError("no records", path=metadata.get("source"))
    meta = dict(metadata)
    warnings: list[str] = list(meta.get("warnings", []))
    empty: dict[str, list[str]] = {}
    for f in ANSWER_FIELDS:
        blank = [i for i, s in enumerate(samples) if _blank(getattr(s, f))]
        if not blank:
            continue
        if not allow_empty:
            raise origins[blank[0]].error(
                f"sample '{samples[blank[0]].id}' has an empty {f} ({len(blank)} of {len(samples)} samples do); "
                "an empty text has no meaning to embed: fix the data, or pass allow_empty=True / "
                "--allow-empty-answers to keep them (results then carry a warning)", f)
        empty[f] = [samples[i].id for i in blank]
        warnings.append(f"{len(blank)} of {len(samples)} samples have an empty {f} (kept on request: "
                        "allow_empty); their embeddings carry no meaning")
    if empty:
        meta["empty"] = empty
    visual = _visual_gap(samples)
    if visual is not None:
        f, missing, present = visual
        if not allow_mixed_visual:
            raise origins[missing[0]].error(
                f"sample '{samples[missing[0]].id}' has no {f}, but {present} of {len(samples)} samples have one: "
                f"the whole split would lose its {f} input; give every sample an {f} (or none), or pass "
                "allow_mixed_visual=True / --allow-mixed-visual to accept it (results then carry a warning)", f)
        warnings.append(f"{len(missing)} of {len(samples)} samples have no {f} (accepted on request: "
                        f"allow_mixed_visual), so the split's visual input is "
                        f"{'the captions (image_text)' if f == 'image' and _all(samples, 'image_text') else 'none'}")
        meta["mixed_visual"] = {"field": f, "missing": [samples[i].id for i in missing]}
    if warnings:
        meta["warnings"] = warnings
    return Split(name, tuple(samples), meta)


def _all(samples: Sequence[Sample], f: str) -> bool:
    return all(getattr(s, f) is not None for s in samples)


def _visual_gap(samples: Sequence[Sample]) -> tuple[str, list[int], int] | None:
    """``(field, positions lacking it, how many have it)`` when the visual input is only partly given."""
    for f in ("image", "image_text"):
        missing = [i for i, s in enumerate(samples) if getattr(s, f) is None]
        if len(missing) == len(samples):
            continue
        if missing:
            return f, missing, len(samples) - len(missing)
        return None  # every sample has this input: the split uses it
    return None
