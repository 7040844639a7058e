"""How results look in Python: a table (``to_pandas()``), a notebook view (``_repr_html_``) and a short repr.

The typed results of :mod:`mllmshift.evaluation.results` hold every number and the whole provenance; printed
as dataclasses that is over 1,000 characters of nested reprs. :class:`ResultView` gives each result type the
three views people expect from pandas-era tools, built from two things the result supplies:

- ``_view_rows()``: its flat rows (the same rows as ``to_row()`` / ``scenarios.csv``, so the table, the CSV and
  the JSON never disagree);
- ``_headline()``: one line that says what the numbers are (EMI, or EMID with its interval, sign stability
  and the bound).

The repr is the headline plus at most :data:`REPR_ROWS` short lines; the HTML view is the headline and a
small table of :data:`HTML_COLUMNS` (all columns are in ``to_pandas()``).
"""

from __future__ import annotations

import html
import math
from typing import Any

from mllmshift.errors import MllmshiftError

#: rows a repr shows before "... and k more"
REPR_ROWS = 6
#: the columns of the notebook table, in order (those a row has)
HTML_COLUMNS = ("split", "scenario", "group", "n", "emi", "emi_low", "emi_high", "emid", "emid_low", "emid_high",
                "sign_stable", "bound", "saturated")


def fmt(value: Any, spec: str = "+.4f") -> str:
    """A number for people: ``spec``-formatted, ``–`` for None/NaN; other values as ``str``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return format(value, spec) if isinstance(value, float) else str(value)


def interval(low: Any, high: Any) -> str:
    return "" if low is None or high is None else f" [{fmt(low, '+.3f')}, {fmt(high, '+.3f')}]"


class ResultView:
    """Mixin: ``to_pandas()``, ``__repr__`` and ``_repr_html_`` from ``_view_rows()`` and ``_headline()``."""

    #: whether the repr lists the rows under the headline (a study: one line per scenario)
    _view_lists = False

    def _view_rows(self) -> list[dict[str, Any]]:  # pragma: no cover - every result overrides it
        raise NotImplementedError

    def _headline(self) -> str:  # pragma: no cover - every result overrides it
        raise NotImplementedError

    def _row_line(self, row: dict[str, Any]) -> str:
        name = row.get("scenario") or row.get("split")
        if "emid" in row:
            stable = "" if row.get("sign_stable") is not False else " (sign not stable)"
            return (f"  {name}: EMI {fmt(row.get('emi'))}, EMID {fmt(row.get('emid'))}"
                    f"{interval(row.get('emid_low'), row.get('emid_high'))}{stable}, bound {fmt(row.get('bound'), '.4f')}")
        return f"  {name}: EMI {fmt(row.get('emi'))}{interval(row.get('emi_low'), row.get('emi_high'))}, n = {row.get('n')}"

    def to_pandas(self) -> Any:
        """The result's rows as a pandas ``DataFrame`` (one row per split or scenario; every column)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is in the data and report extras
            raise MllmshiftError("to_pandas() needs pandas: pip install 'mllmshift[data]'") from None
        return pd.DataFrame(self._view_rows())

    def __repr__(self) -> str:
        rows = self._view_rows()
        lines = [f"<{type(self).__name__}: {self._headline()}>"]
        if self._view_lists:
            lines += [self._row_line(r) for r in rows[:REPR_ROWS]]
            if len(rows) > REPR_ROWS:
                lines.append(f"  ... and {len(rows) - REPR_ROWS} more (.to_pandas() has them all)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = self._view_rows()
        cols = [c for c in HTML_COLUMNS if any(c in r for r in rows)]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c), '.4f' if c == 'bound' else '+.4f'))}</td>" for c in cols)
            + "</tr>" for r in rows[:50])
        more = f"<p>… and {len(rows) - 50} more rows: <code>.to_pandas()</code></p>" if len(rows) > 50 else ""
        return (f"<div class=\"mllmshift-result\"><p><b>{html.escape(type(self).__name__)}</b>: "
                f"{html.escape(self._headline())}</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                f"</table>{more}</div>")
