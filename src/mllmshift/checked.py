"""Checked dataclasses: every field of a frozen settings dataclass declares its type and range.

Shift parameters, the judge's config and the HTTP retry policy derive from :class:`Checked` and declare
each field with its type hint (``float``, ``int``, ``bool``, ``str``, ``X | None``,
``tuple[float, ...]``) and, where a range applies, :func:`bounded`::

    @dataclass(frozen=True)
    class DefocusParams(Checked):
        radius: float = bounded(0, 100, lo_open=True)     # 0 < radius <= 100
        alias_blur: float = bounded(0, 10, lo_open=True)

Construction checks every field (``__post_init__``): a wrong type (``radius="abc"``), a non-finite
number, a value out of its range (``radius=-5``, a word probability of 5.0, a confidence of 1.5) or a
rule between fields (:meth:`Checked.check`) raises :class:`FieldError` (or the class's ``error``), a
:class:`~mllmshift.errors.DataError` (so the CLI reports it with exit code 1) that is also a
``TypeError`` (what Python raises for a bad keyword). Integral floats given for ``int`` fields (``5.0``
from JSON) and lists given for tuples are normalised.
"""

from __future__ import annotations

import math
import typing
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar

from mllmshift.errors import DataError


class FieldError(DataError, TypeError):
    """A setting of the wrong type or out of its range; ``param`` names it."""

    def __init__(self, message: str, *, param: str | None = None, path: Any = None, line: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message, path=path, line=line, field=field)
        self.param = param


@dataclass(frozen=True)
class Limit:
    """The allowed values of one parameter: an interval (ends open or closed) or a set of choices."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[Any, ...] | None = None

    def admits(self, v: Any) -> bool:
        if self.choices is not None:
            return v in self.choices
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        assert self.hi is not None
        return f"{'<' if self.hi_open else '<='} {self.hi:g}"


def bounded(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
            choices: tuple[Any, ...] | None = None, default: Any = MISSING) -> Any:
    """A dataclass field whose values (each item, for tuples) must lie in the given range or choices."""
    return field(default=default, metadata={"limit": Limit(lo, hi, lo_open, hi_open, choices)})


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_scalar(name: str, kind: Any, v: Any, error: type[FieldError]) -> Any:
    """``v`` checked against the scalar type ``kind`` (normalised where harmless), or an ``error``."""
    def wrong(what: str) -> FieldError:
        return error(f"parameter '{name}' must be {what}, got {v!r} ({type(v).__name__})", param=name)

    if kind is float:
        if not _number(v):
            raise wrong("a number")
        if not math.isfinite(v):
            raise wrong("a finite number")
        return v
    if kind is int:
        if _number(v) and math.isfinite(v) and float(v).is_integer():
            return int(v)
        raise wrong("an integer")
    if kind is bool:
        if not isinstance(v, bool):
            raise wrong("true or false")
        return v
    if kind is str:
        if not isinstance(v, str):
            raise wrong("a string")
        return v
    return v  # other types (objects passed through by code) are not checked here


def _check(f: Field[Any], hint: Any, v: Any, error: type[FieldError]) -> Any:
    limit: Limit | None = f.metadata.get("limit")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        if not isinstance(v, (list, tuple)) or not v:
            raise error(f"parameter '{f.name}' must be a non-empty list, got {v!r}", param=f.name)
        items = tuple(_check_scalar(f.name, args[0], x, error) for x in v)
        bad = [x for x in items if limit is not None and not limit.admits(x)]
        if bad:
            raise error(f"parameter '{f.name}': every value must be {limit.describe()}, got {bad[0]!r}",
                        param=f.name)
        return items
    if args and type(None) in args:  # Optional[X]
        if v is None:
            return v
        hint = next(a for a in args if a is not type(None))
    v = _check_scalar(f.name, hint, v, error)
    if limit is not None and not limit.admits(v):
        raise error(f"parameter '{f.name}' must be {limit.describe()}, got {v!r}", param=f.name)
    return v


class Checked:
    """Base of a frozen settings dataclass whose fields are checked on construction (module docstring)."""

    #: the error raised for a bad field
    error: ClassVar[type[FieldError]] = FieldError

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            checked = _check(f, hints[f.name], value, self.error)
            if checked is not value:
                object.__setattr__(self, f.name, checked)
        self.check()

    def check(self) -> None:
        """Rules between fields (``word_min <= word_max``); raise ``self.error``."""
