"""Shift parameters: each shift's frozen ``Params`` dataclass is a :class:`~mllmshift.checked.Checked` one.

A bad parameter, severity or level is a :class:`ShiftParamError` (a ``DataError`` and a ``TypeError``):
see :mod:`mllmshift.checked` for how fields declare their type and range with :func:`bounded`.
"""

from __future__ import annotations

from typing import ClassVar

from mllmshift.checked import Checked, FieldError, bounded


class ShiftParamError(FieldError):
    """A shift parameter (or severity, level, seed) of the wrong type or out of its range."""


class ShiftParams(Checked):
    """Base of every shift's frozen ``Params`` dataclass: checks each field on construction."""

    error: ClassVar[type[FieldError]] = ShiftParamError


__all__ = ["ShiftParamError", "ShiftParams", "bounded"]
