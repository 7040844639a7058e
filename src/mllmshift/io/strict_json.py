"""Strict JSON for every file and stream the package writes: a non-finite number is never written bare.

``json.dumps`` writes NaN and infinities as ``NaN`` / ``Infinity``, which is not JSON (most parsers refuse
it). Here such a value becomes ``null``, and the mapping that holds it gets a ``null_reasons`` entry saying
what it was, keyed by the field (``"members[1]"`` for an item of a list)::

    {"value": null, "mi_response": 0.41, "null_reasons": {"value": "NaN: ..."}}

Values that are null for other reasons (not computed: a partial scenario, no bootstrap) get no reason;
their absence is explained where they are described (``notes``, the docs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

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
