"""Fill the scores a recomputed table lacks from a previous table of the same suite (``real.json``), only for the
configurations whose recomputed units reproduce it.

Why: the per-unit cache of a table can be lost while the table itself (every score, measured by the same code,
seeds and data) is committed; recomputing every unit again costs hours of shared CPU. A configuration's scores
may be taken from the previous table when the units recomputed now give the same numbers: its per-model EMIs
on the judged set (``alpacaeval48/emi``), its per-scenario EMIDs on LLaVA-Bench (``llava/emid``) or its small-n
ID EMI (``llava/small_n/emi_id``) agree with the previous table's within :data:`TOLERANCE`, and none differs
(recomputed CLUB units differ from the stored ones by up to 5e-8 nats, float32 sums; the others by 0).
Only keys the recomputed row lacks are filled (a recomputed score always wins); the filled paths and the
checks are recorded in the row (``filled_from_previous``), and a configuration with nothing recomputed to
compare is not filled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: the per-unit values compared between the recomputed and the previous row
REPRODUCE = (("alpacaeval48", "emi"), ("llava", "emid"), ("llava", "small_n", "emi_id"))
TOLERANCE = 1e-6


def _get(d: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, Mapping) or k not in d:
            return None
        d = d[k]
    return d


def max_difference(a: Any, b: Any) -> float:
    """The largest |a − b| over two numbers or two mappings of numbers with the same keys (inf otherwise)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b) or not a:
            return math.inf
        return max(max_difference(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b))
    return math.inf


def _merge(row: dict[str, Any], old: Mapping[str, Any], prefix: str, filled: list[str]) -> None:
    for k, v in old.items():
        if k not in row:
            row[k] = v
            filled.append(prefix + k)
        elif isinstance(row[k], dict) and isinstance(v, Mapping):
            _merge(row[k], v, f"{prefix}{k}/", filled)


def fill_rows(rows: dict[str, dict[str, Any]], previous: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Fill ``rows`` (label → row, in place) from ``previous`` where they reproduce it (module docstring);
    returns, per label of ``previous``, what was checked and filled or why not."""
    report: dict[str, Any] = {}
    for label, old in previous.items():
        row = rows.get(label)
        if row is None:
            report[label] = {"filled": [], "why": "not in the recomputed table"}
            continue
        checks = {"/".join(p): max_difference(_get(row, p), _get(old, p)) for p in REPRODUCE
                  if _get(row, p) is not None and _get(old, p) is not None}
        if not checks:
            report[label] = {"filled": [], "why": "nothing recomputed to compare"}
            continue
        if max(checks.values()) > TOLERANCE:
            report[label] = {"filled": [], "checks": checks, "why": "the recomputed units do not reproduce it"}
            continue
        filled: list[str] = []
        _merge(row, old, "", filled)
        row["filled_from_previous"] = {"paths": filled, "checks": checks}
        report[label] = {"filled": filled, "checks": checks}
    return report
