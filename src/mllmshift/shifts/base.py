"""Interfaces shared by every shift: image corruptions and text perturbations.

Each shift is a small class whose parameters live in a frozen dataclass
(``.params``) and whose randomness comes only from the ``seed`` passed to
``apply`` (HELM-style per-instance seeding), so the same ``(input, seed)``
always gives the same output, whatever was applied before.

Seeds for a shift are derived with :func:`stable_seed`, a BLAKE2b hash of the
parts' text (stable across processes and Python versions, unlike ``hash()``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from typing import Any, ClassVar

import numpy as np

from mllmshift.errors import DataError
from mllmshift.io.images import DEFAULT_MAX_PIXELS, ImageTooLargeError, check_image, load_image, to_rgb
from mllmshift.shifts.params import ShiftParamError

__all__ = ["DEFAULT_MAX_PIXELS", "ImageTooLargeError", "check_image", "load_image", "SEVERITIES", "stable_seed",
           "ImageCorruption", "TextPerturbation", "Change", "PerturbationResult", "apply_changes", "coerce_text",
           "ShiftParamError"]

SEVERITIES = (1, 2, 3, 4, 5)


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from the text of ``parts`` (BLAKE2b; stable across runs and platforms)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ShiftParamError(f"seed must be a non-negative integer, got {seed!r}", param="seed")
    return int(seed)


def _with_overrides(base: Any, overrides: Mapping[str, Any], owner: str) -> Any:
    """``base`` (a :class:`~mllmshift.shifts.params.ShiftParams`) with ``overrides``, each checked."""
    known = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ShiftParamError(f"{owner}: unknown parameter(s) {unknown}; known: {sorted(known)}", param=unknown[0])
    try:
        return replace(base, **overrides)
    except ShiftParamError as err:
        raise ShiftParamError(f"{owner}: {err.message}", param=err.param) from None


def _check_int(owner: str, what: str, value: object, lo: int, hi: int | None, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo \
            or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ShiftParamError(f"{owner}: {what} must be an integer {span}{why}, got {value!r}", param=what)
    return int(value)


# ---------------------------------------------------------------------------------------------- images


class ImageCorruption(ABC):
    """A parametric image corruption at one severity.

    Subclasses set ``name``, ``Params`` (a frozen dataclass) and ``TABLE`` (the
    parameters of severities 1..5) and implement :meth:`_corrupt` on a float64
    RGB array in [0, 255]. :meth:`apply` converts the image to RGB, checks its
    size, seeds a generator from ``(name, seed)`` and returns an RGB
    image of the input's size; the float result is clipped to [0, 255] and
    truncated to uint8 as ImageNet-C's ``np.uint8(corruption(x))`` does.
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    TABLE: ClassVar[tuple[Any, ...]]
    #: True when the output does not depend on the seed
    deterministic: ClassVar[bool] = False

    def __init__(self, severity: int = 1, *, max_pixels: int = DEFAULT_MAX_PIXELS, **overrides: Any) -> None:
        self.severity = _check_int(self.name, "severity", severity, SEVERITIES[0], SEVERITIES[-1])
        self.max_pixels = _check_int(self.name, "max_pixels", max_pixels, 1, None)
        self.params = _with_overrides(self.TABLE[self.severity - 1], overrides, self.name)

    def rng(self, seed: int) -> np.random.Generator:
        """The generator :meth:`apply` uses for ``seed``.

        It does not depend on the severity (common random numbers): the severities of
        one (image, seed) draw the same noise, texture and crop, and differ only in strength.
        """
        return np.random.default_rng(stable_seed("image", self.name, _check_seed(seed)))

    def apply(self, img: Any, seed: int = 0) -> Any:
        """The corrupted copy of ``img`` (any mode, converted to 8-bit RGB by :func:`~mllmshift.io.images.to_rgb`;
        same size)."""
        from PIL import Image

        check_image(img, max_pixels=self.max_pixels)
        rng = self.rng(seed)
        rgb = to_rgb(img)
        out = self._corrupt_image(rgb, rng)
        if isinstance(out, Image.Image):
            return out if out.mode == "RGB" else out.convert("RGB")
        arr = np.asarray(out, dtype=np.float64)
        assert arr.shape == (rgb.size[1], rgb.size[0], 3), (self.name, arr.shape, rgb.size)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")

    def _corrupt_image(self, img: Any, rng: np.random.Generator) -> Any:
        """Hook for corruptions that work on the PIL image; default: :meth:`_corrupt` on the array."""
        return self._corrupt(np.asarray(img, dtype=np.float64), rng)

    @abstractmethod
    def _corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Corrupt an H×W×3 float64 array with values in [0, 255]; return the same shape, any range."""

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "params": _jsonable(asdict(self.params))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(severity={self.severity}, params={self.params})"


# ---------------------------------------------------------------------------------------------- text


@dataclass(frozen=True)
class Change:
    """One edit, located in the original text: ``text[start:end]`` became ``replacement``."""

    start: int
    end: int
    original: str
    replacement: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PerturbationResult:
    """The perturbed text and the edits that made it (in order of position)."""

    text: str
    changes: tuple[Change, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "changes": [c.to_dict() for c in self.changes]}


def apply_changes(text: str, changes: Sequence[Change]) -> str:
    """``text`` with non-overlapping ``changes`` applied (spans refer to ``text``)."""
    out: list[str] = []
    pos = 0
    for c in sorted(changes, key=lambda c: (c.start, c.end)):
        if c.start < pos:
            raise ValueError(f"overlapping changes at {c.start}")
        out.append(text[pos:c.start])
        out.append(c.replacement)
        pos = c.end
    out.append(text[pos:])
    return "".join(out)


def coerce_text(text: object) -> str:
    """``text`` as ``str``: UTF-8 bytes are decoded; anything else is a clear error."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"text is not valid UTF-8 ({err.reason} at byte {err.start})") from None
    raise TypeError(f"expected text as str, got {type(text).__name__}")


class TextPerturbation(ABC):
    """A parametric text perturbation at one level.

    Subclasses set ``name`` and ``Params`` (a frozen dataclass) and implement
    :meth:`params_for` (level → parameters) and :meth:`_perturb`. :meth:`apply`
    accepts ``str`` (or UTF-8 ``bytes``), returns an empty string unchanged, and
    seeds a generator from ``(name, level, seed)``.
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    #: whether ``level`` is meaningful (translation has none)
    levelled: ClassVar[bool] = True
    #: the highest level: every levelled perturbation's probability is 0.05·level
    MAX_LEVEL: ClassVar[int] = 20

    def __init__(self, level: int = 1, **overrides: Any) -> None:
        if self.levelled:
            level = _check_int(self.name, "level", level, 0, self.MAX_LEVEL,
                               " (its probability is 0.05·level, at most 1)")
        self.level = int(level) if level is not None else None
        self.params = _with_overrides(self.params_for(self.level), overrides, self.name)

    @classmethod
    @abstractmethod
    def params_for(cls, level: int | None) -> Any:
        """Default parameters at ``level``."""

    def check_ready(self) -> None:
        """Raise a clear error if :meth:`apply` cannot work (e.g. no translator); called before any work."""

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng(stable_seed("text", self.name, self.level, _check_seed(seed)))

    def apply(self, text: object, seed: int = 0) -> PerturbationResult:
        s = coerce_text(text)
        rng = self.rng(seed)
        if not s.strip():
            return PerturbationResult(s, ())
        return self._perturb(s, rng)

    @abstractmethod
    def _perturb(self, text: str, rng: np.random.Generator) -> PerturbationResult:
        """Perturb non-blank ``text``."""

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level, "params": _jsonable(asdict(self.params))}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(level={self.level}, params={self.params})"


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)
