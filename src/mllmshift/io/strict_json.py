"""Strict JSON for every file and stream the package writes: a non-finite number is never written bare.

``json.dumps`` writes NaN and infinities as ``NaN`` / ``Infinity``, which is not JSON (most parsers refuse
it). Here such a value becomes ``null``, and the mapping that holds it gets a ``null_reasons`` entry saying
what it was, keyed by the field (``"members[1]"`` for an item of a list)::

    {"value": null, "mi_response": 0.41, "null_reasons": {"value": "NaN: ..."}}

Values that are null for other reasons (not computed: a partial scenario, no bootstrap) get no reason;
their absence is explained where they are described (``notes``, the docs).

Reading is strict too (:func:`loads`, used for every JSONL line the readers and the monitor's stream read):
a key given twice in one object is refused (``json.loads`` silently keeps the last: ``{"response": "a",
"response": "b"}`` would score "b"), and so is a lone surrogate escape such as ``"\\ud800"``, which is no
character: it cannot be encoded to UTF-8, so it would fail only later, as a traceback when hashed or written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

#: a JSON escape of a UTF-16 surrogate (only these can produce a lone surrogate in decoded text)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonProblem(ValueError):
    """Valid JSON syntax that the package refuses (a duplicate key, a lone surrogate); ``field`` names where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise JsonProblem("given twice in one object; JSON readers would silently keep the last", field=k)
        out[k] = v
    return out


def _lone_surrogate(value: Any, where: str | None) -> tuple[str | None, str] | None:
    if isinstance(value, str):
        m = _SURROGATE.search(value)
        return None if m is None else (where, f"\\u{ord(m.group()):04x}")
    if isinstance(value, dict):
        for k, v in value.items():
            hit = _lone_surrogate(k, where) or _lone_surrogate(v, k if where is None else f"{where}.{k}")
            if hit:
                return hit
    if isinstance(value, list):
        for i, v in enumerate(value):
            hit = _lone_surrogate(v, f"{where or ''}[{i}]")
            if hit:
                return hit
    return None


def loads(text: str) -> Any:
    """``json.loads`` that refuses a key given twice in one object and a lone surrogate in a string (a
    :class:`JsonProblem` naming the field); syntax errors are ``json.JSONDecodeError`` as usual."""
    obj = json.loads(text, object_pairs_hook=_pairs)
    if _SURROGATE_ESCAPE.search(text):
        hit = _lone_surrogate(obj, None)
        if hit:
            raise JsonProblem(f"a lone surrogate {hit[1]} is not a character (not valid Unicode text)", field=hit[0])
    return obj

#: the key of the reasons entry
NULL_REASONS = "null_reasons"


def reason(value: float) -> str:
    """Why a non-finite ``value`` is written as null."""
    if math.isnan(value):
        return "NaN: the estimate is undefined (an estimator or input produced no number)"
    return (f"{'+' if value > 0 else '-'}infinity: the value is unbounded (an overflow, e.g. an entropy scale so "
            "large that the bound exceeds the largest float, or a threshold no value can cross)")


def _non_finite(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(field, reason) for each non-finite float directly in ``value`` or in its (nested) lists; mappings
    inside carry their own reasons."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where, reason(value)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _non_finite(v, f"{where}[{i}]")


def clean(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by None (their reasons in ``null_reasons`` of the enclosing
    mapping), tuples by lists and mappings by dicts with string keys: strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        reasons = dict(obj.get(NULL_REASONS) or {})
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k == NULL_REASONS:
                continue
            out[str(k)] = clean(v)
            reasons.update(_non_finite(v, str(k)))
        if reasons:
            out[NULL_REASONS] = reasons
        return out
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`clean` ``(obj)``; never writes ``NaN`` or ``Infinity``."""
    return json.dumps(clean(obj), allow_nan=False, **kwargs)
