"""Per-scenario judge scores, read for correlating EMI with a judge.

A study's ``judge:`` names a folder of ``mllmshift judge`` summaries (``*.summary.json``), one such file, or a
CSV / JSON table with a ``scenario`` column and numeric columns (``win_rate``, ``relative_score``, ...).
:func:`load_judge_scores` reads any of them into ``{scenario: {column: value}}``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError


def load_judge_scores(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Per-scenario judge scores from CSV or JSON: ``scenario`` plus numeric columns (``win_rate``, ...).

    A folder of ``mllmshift judge`` summaries (``*.summary.json``) is read with
    :func:`mllmshift.judge.load_scores`, keeping ``win_rate`` and ``relative_score``.

    JSON may be a list of objects with a ``scenario`` key, or a mapping scenario → {column: value}.
    (Compatible with :func:`mllmshift.judge.load_scores` files.) A non-numeric value raises a
    :class:`~mllmshift.errors.DataError` naming file, line and column.
    """
    p = Path(path)
    if p.is_dir() or p.name.endswith(".summary.json"):  # `mllmshift judge` output: delegate to its reader
        from mllmshift.judge.llava_bench import load_scores

        return {name: {k: float(v[k]) for k in ("win_rate", "relative_score") if isinstance(v.get(k), (int, float))}
                for name, v in load_scores(p).items()}
    if not p.is_file():
        raise DataError("judge score file not found", path=p)
    records: list[tuple[int, dict[str, Any]]]
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"bad JSON: {err.msg}", path=p, line=err.lineno) from None
        if isinstance(data, dict):
            records = [(0, {"scenario": k, **v}) for k, v in data.items() if isinstance(v, dict)]
        elif isinstance(data, list):
            records = [(i + 1, r) for i, r in enumerate(data) if isinstance(r, dict)]
        else:
            raise DataError("expected a list of objects or a mapping scenario → scores", path=p)
    else:
        with p.open(encoding="utf-8", newline="") as fh:
            records = [(i + 2, dict(r)) for i, r in enumerate(csv.DictReader(fh))]
    out: dict[str, dict[str, float]] = {}
    for line, rec in records:
        name = rec.get("scenario")
        if not name:
            raise DataError("missing", path=p, line=line or None, field="scenario")
        scores: dict[str, float] = {}
        for k, v in rec.items():
            if k == "scenario" or v in (None, ""):
                continue
            try:
                scores[k] = float(v)
            except (TypeError, ValueError):
                raise DataError(f"expected a number, got {v!r}", path=p, line=line or None, field=k) from None
        out[str(name)] = scores
    return out
