"""The canonical sample record and named splits of them.

A :class:`Sample` is one evaluation item of the paper's setting: an image
query ``X_v``, a text query ``X_t``, the evaluated model's response ``Ŷ`` and
a reference response ``Y`` from a strong model. A :class:`Split` is a named,
ordered collection of samples (the in-distribution set or one shifted
scenario).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Sample:
    """One evaluation item.

    Attributes:
        id: identifier, unique within a split and shared by the same item across
            splits (so ID and shifted versions of a question can be paired).
        question: the text query ``X_t`` as the model saw it.
        response: the evaluated model's answer ``Ŷ`` (None before responses exist).
        reference: the reference answer ``Y`` (None where the dataset has none).
        image: path of the image query ``X_v``, or None.
        image_text: a textual stand-in for the image (for example human captions)
            used as the visual input when the image itself is unavailable.
        metadata: free-form extra fields (category, shift parameters, ...).
    """

    id: str
    question: str
    response: str | None = None
    reference: str | None = None
    image: str | None = None
    image_text: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", str(self.id))
        if not isinstance(self.metadata, MappingProxyType):
            object.__setattr__(self, "metadata", _freeze(self.metadata))

    def with_(self, **changes: Any) -> Sample:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the canonical JSONL record)."""
        return {
            "id": self.id,
            "question": self.question,
            "response": self.response,
            "reference": self.reference,
            "image": self.image,
            "image_text": self.image_text,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Split:
    """A named, ordered collection of samples with unique ids."""

    name: str
    samples: tuple[Sample, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", tuple(self.samples))
        if not isinstance(self.metadata, MappingProxyType):
            object.__setattr__(self, "metadata", _freeze(self.metadata))
        seen: set[str] = set()
        for s in self.samples:
            if s.id in seen:
                raise ValueError(f"split '{self.name}': duplicate sample id '{s.id}'")
            seen.add(s.id)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    @property
    def questions(self) -> list[str]:
        return [s.question for s in self.samples]

    @property
    def responses(self) -> list[str | None]:
        return [s.response for s in self.samples]

    @property
    def references(self) -> list[str | None]:
        return [s.reference for s in self.samples]

    @property
    def images(self) -> list[str | None]:
        return [s.image for s in self.samples]

    @property
    def has_images(self) -> bool:
        """True when every sample has an image path."""
        return bool(self.samples) and all(s.image is not None for s in self.samples)

    @property
    def has_image_text(self) -> bool:
        """True when every sample has a textual stand-in for its image."""
        return bool(self.samples) and all(s.image_text is not None for s in self.samples)

    @property
    def has_references(self) -> bool:
        return bool(self.samples) and all(s.reference is not None for s in self.samples)

    @property
    def has_responses(self) -> bool:
        return bool(self.samples) and all(s.response is not None for s in self.samples)

    def subset(self, indices: Sequence[int], name: str | None = None) -> Split:
        """The samples at ``indices`` (positions, in that order) as a new split."""
        return Split(name or self.name, tuple(self.samples[i] for i in indices), self.metadata)

    def renamed(self, name: str) -> Split:
        return Split(name, self.samples, self.metadata)

    def map(self, fn: Any, name: str | None = None) -> Split:
        """A new split with ``fn(sample)`` applied to every sample."""
        return Split(name or self.name, tuple(fn(s) for s in self.samples), self.metadata)
