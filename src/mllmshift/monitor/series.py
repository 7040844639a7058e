"""The time series a monitor writes: one row per closed window, in ``series.jsonl`` and ``series.csv``.

Columns: ``window`` (index), ``start``/``end`` (ISO 8601 UTC: the window's bounds for time windows,
the first and last record's times for count windows), ``n`` (records), ``n_labelled`` (with a reference
answer), ``skipped`` (malformed records met since the previous window), ``skipped_total``, ``late``
(time windows: records that came after their window had closed), then per term ``T``: ``T``,
``T_low``, ``T_high`` (the bootstrap CI) and, for a watched term, ``T_threshold`` (the estimate's critical
value at the per-term level), ``T_p`` (the permutation p-value against the term's no-shift null), ``T_z`` (its
distance from the null's mean in null standard deviations) and ``T_over`` (p at most the per-term level, or
the estimate over a given threshold); then ``moved_most`` (the watched term with the largest z), ``alerts`` (terms whose rule
fired in this window, ``;``-separated) and ``notes`` (why terms are missing). Empty means not computed.

Files are only appended to; their lengths go into the saved state after each window, and a resumed run
first cuts them back to those lengths, so a row is written exactly once whatever the interruptions.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.io.strict_json import dumps


def columns(terms: Sequence[str], alert_terms: Sequence[str]) -> list[str]:
    cols = ["window", "start", "end", "n", "n_labelled", "skipped", "skipped_total", "late"]
    for t in terms:
        cols += [t, f"{t}_low", f"{t}_high"]
        if t in alert_terms:
            cols += [f"{t}_threshold", f"{t}_p", f"{t}_z", f"{t}_over"]
    return cols + ["moved_most", "alerts", "notes"]


def _json_value(v: Any) -> Any:
    """Strict JSON: a non-finite float is null (its reason in the row's ``null_reasons``, :mod:`mllmshift.io.
    strict_json`), never the string ``"inf"``."""
    return v


class AppendLog:
    """A file only appended to, whose length is tracked so that a resumed run can cut it back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def length(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, length: int) -> None:
        """Cut the file back to ``length`` bytes (what a saved state says was written)."""
        if self.length > length:
            with self.path.open("r+b") as fh:
                fh.truncate(length)

    def append(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


class JsonlLog(AppendLog):
    def write(self, obj: Mapping[str, Any]) -> None:
        self.append(dumps({k: _json_value(v) for k, v in obj.items()}, ensure_ascii=False) + "\n")

    def tail(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` objects (memory bounded by ``limit``)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in deque(fh, maxlen=limit) if line.strip()]


class SeriesWriter:
    """Writes rows to ``series.jsonl`` and ``series.csv`` (header first) in ``folder``."""

    def __init__(self, folder: Path, cols: Sequence[str]) -> None:
        self.cols = list(cols)
        self.jsonl = JsonlLog(folder / "series.jsonl")
        self.csv = AppendLog(folder / "series.csv")

    def lengths(self) -> dict[str, int]:
        return {"series.jsonl": self.jsonl.length, "series.csv": self.csv.length}

    def truncate(self, lengths: Mapping[str, int]) -> None:
        self.jsonl.truncate(int(lengths.get("series.jsonl", 0)))
        self.csv.truncate(int(lengths.get("series.csv", 0)))

    def write(self, row: Mapping[str, Any]) -> None:
        unknown = set(row) - set(self.cols)
        if unknown:
            raise ValueError(f"row has columns {sorted(unknown)} outside the series")
        self.jsonl.write({c: row.get(c) for c in self.cols})
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if self.csv.length == 0:
            w.writerow(self.cols)
        w.writerow(["" if row.get(c) is None else _csv_cell(row[c]) for c in self.cols])
        self.csv.append(buf.getvalue())


def _csv_cell(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "nan" if math.isnan(v) else "-inf")
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    return v


def read_series(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All rows of a ``series.jsonl``."""
    p = Path(path)
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def numbers(rows: Iterable[Mapping[str, Any]], key: str) -> list[float]:
    """``row[key]`` as floats, NaN where missing (for plots)."""
    out = []
    for r in rows:
        v = r.get(key)
        out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else
                   (math.inf if v == "inf" else math.nan))
    return out
