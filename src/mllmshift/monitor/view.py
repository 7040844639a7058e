"""What people look at: a plot per term over the windows, and a one-page HTML view of the series.

``plots/<term>.png``: the estimate per window (against its end time) with its bootstrap CI as a band, the
alert threshold (for watched terms) as a dashed step line, windows whose lower bound was over it in orange
and windows where the rule fired in red. ``index.html``: the run's settings, the alerts, the plots and the latest rows.
Both are redrawn from the tail of ``series.jsonl`` (at most :data:`VIEW_WINDOWS` windows, so drawing
stays bounded however long the monitor runs) and written atomically.
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.io.atomic import atomic_write_text
from mllmshift.monitor.series import numbers

#: the most recent windows drawn and listed
VIEW_WINDOWS = 2000
TABLE_ROWS = 40

TERM_LABELS = {
    "visual": "JSD(reference ‖ window), image input",
    "text": "JSD(reference ‖ window), question",
    "answer": "JSD(reference ‖ window), model answers",
    "output": "answer term of the bound, JSD(window Ŷ ‖ window Y)^¼",
    "output_shift": "answer term, window minus a same-size reference sample",
    "emi": "EMI of the window",
    "emid": "EMID = EMI(reference sample) − EMI(window)",
    "bound": "EMID bound (scale-adjusted) between reference and window",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_term(rows: Sequence[Mapping[str, Any]], term: str, path: Path, watched: bool) -> Path | None:
    """The term's estimate, CI and threshold per window, against the windows' end times (None when no window
    has the term)."""
    x = _times(rows)
    y = numbers(rows, term)
    if not any(math.isfinite(v) for v in y):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    lo, hi = numbers(rows, f"{term}_low"), numbers(rows, f"{term}_high")
    ax.fill_between(x, lo, hi, color="#4c72b0", alpha=0.18, lw=0, label="bootstrap CI")
    ax.plot(x, y, color="#4c72b0", lw=1.2, marker="o", ms=2.5, label="estimate")
    if watched:
        thr = [v if math.isfinite(v) else math.nan for v in numbers(rows, f"{term}_threshold")]
        if any(math.isfinite(v) for v in thr):
            ax.step(x, thr, where="mid", color="#444", ls="--", lw=1.0, label="threshold")
        over = [(xi, yi) for xi, yi, r in zip(x, y, rows) if r.get(f"{term}_over")]
        fired = [(xi, yi) for xi, yi, r in zip(x, y, rows) if term in str(r.get("alerts") or "").split(";")]
        if over:
            ax.scatter(*zip(*over), color="#dd8452", s=18, zorder=3, label="lower bound over threshold")
        if fired:
            ax.scatter(*zip(*fired), color="#c44e52", s=60, marker="v", zorder=4, label="alert")
    ax.set_title(f"{term}: {TERM_LABELS.get(term, term)}", fontsize=10)
    ax.set_xlabel("window end (UTC)" if isinstance(x[0], datetime) else "window")
    if isinstance(x[0], datetime):
        fig.autofmt_xdate()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight", metadata={"Software": "mllmshift"})
    plt.close(fig)
    tmp.replace(path)
    return path


def _times(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Each window's end time, or its index where a window has none (an empty count window)."""
    if all(isinstance(r.get("end"), str) for r in rows):
        return [datetime.fromisoformat(str(r["end"]).replace("Z", "+00:00")) for r in rows]
    return [int(r["window"]) for r in rows]


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "✔" if v else ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape("" if v is None else str(v))


def render(out: Path, rows: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]],
           terms: Sequence[str], watched: Sequence[str], info: Mapping[str, Any], refresh_s: int | None) -> Path:
    """Redraw every plot and ``index.html`` in ``out``; returns the page's path."""
    plots = {t: plot_term(rows, t, out / "plots" / f"{t}.png", t in watched) for t in terms}
    head = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in info.items())
    alert_rows = "".join(
        f"<tr><td>{a['window']}</td><td>{html.escape(str(a['end']))}</td><td>{html.escape(', '.join(a['terms']))}</td>"
        f"<td>{html.escape(str(a['moved_most']))}</td><td>"
        + html.escape(", ".join(f"{s['id']} ({s['score']:.3g})" for s in a.get("top_samples", [])[:5]))
        + "</td></tr>" for a in reversed(alerts[-50:]))
    figs = "".join(f'<figure><img src="plots/{t}.png" alt="{t}"></figure>' for t, p in plots.items() if p)
    show = ["window", "end", "n", "skipped"] + [t for t in terms] + ["moved_most", "alerts"]
    table = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in show) + "</tr>"
                    for r in reversed(rows[-TABLE_ROWS:]))
    meta = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8">{meta}<title>mllmshift monitor</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px}}table{{border-collapse:collapse;
font-size:12px}}td,th{{border:1px solid #ddd;padding:2px 6px;text-align:left}}figure{{display:inline-block;
margin:4px}}img{{max-width:560px}}</style></head><body>
<h1>mllmshift monitor</h1>
<p>Each window of the stream against the reference window: drift terms (JSDs), the bound's answer term and
EMI/EMID where records have reference answers, with bootstrap CIs. An alert fires when a term's lower
confidence bound is over its threshold (the reference's own no-shift spread at the same window size)
for the configured number of consecutive windows. Data: <a href="series.csv">series.csv</a>,
<a href="series.jsonl">series.jsonl</a>, <a href="alerts.jsonl">alerts.jsonl</a>.</p>
<table>{head}</table>
<h2>Alerts ({len(alerts)})</h2>
<table><tr><th>window</th><th>end</th><th>terms</th><th>moved most</th><th>top samples (score)</th></tr>
{alert_rows or '<tr><td colspan="5">none</td></tr>'}</table>
<h2>Terms over time</h2>{figs or '<p>no window has closed yet</p>'}
<h2>Latest windows</h2><table><tr>{''.join(f'<th>{c}</th>' for c in show)}</tr>{table}</table>
</body></html>
"""
    path = out / "index.html"
    atomic_write_text(path, page)
    return path
