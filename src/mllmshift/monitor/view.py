"""What people look at: a plot per term over the windows, and a one-page HTML view of the series.

``plots/<term>.svg``: the estimate per window with its bootstrap CI as a band, the critical value (for
watched terms) as a dashed line, windows over it in orange and windows where the rule fired in red; each
point's tooltip gives its window, end, value, interval and p-value. ``index.html``: the run's settings, the
alerts, the same plots inline (so the page reads top to bottom without opening images) and the latest rows.
Both are redrawn from the tail of ``series.jsonl`` (at most :data:`VIEW_WINDOWS` windows, so drawing
stays bounded however long the monitor runs) and written atomically.
"""

from __future__ import annotations

import html
import math
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


W, H, ML, MR, MT, MB = 640, 240, 56, 12, 26, 34  # the plot's size and margins (px)


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    span = hi - lo or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def svg_term(rows: Sequence[Mapping[str, Any]], term: str, watched: bool) -> str | None:
    """An SVG plot of the term per window: its estimate (line; hover a point for its window, end, value,
    interval, p), the bootstrap interval (band), the threshold (dashed), windows over it (orange) and alerts
    (red triangles). None when no window has the term. Self-contained (no script, no library): it shows
    inline in the page and opens alone from ``plots/<term>.svg``."""
    pts = [(i, r) for i, r in enumerate(rows) if isinstance(r.get(term), (int, float)) and math.isfinite(r[term])]
    if not pts:
        return None
    ys = [float(r[term]) for _, r in pts]
    band = [(i, float(r[f"{term}_low"]), float(r[f"{term}_high"])) for i, r in pts
            if isinstance(r.get(f"{term}_low"), (int, float)) and isinstance(r.get(f"{term}_high"), (int, float))]
    thr = [(i, float(r[f"{term}_threshold"])) for i, r in pts if watched
           and isinstance(r.get(f"{term}_threshold"), (int, float)) and math.isfinite(r[f"{term}_threshold"])]
    values = ys + [v for _, lo, hi in band for v in (lo, hi)] + [v for _, v in thr]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    n = len(rows)
    sx = _scale(0, max(n - 1, 1), ML, W - MR)
    sy = _scale(lo, hi, H - MB, MT)
    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'font-family="system-ui,sans-serif" font-size="10" role="img" aria-label="{e(term)}">',
             f'<text x="{ML}" y="14" font-size="12" font-weight="600">{e(term)}: {e(TERM_LABELS.get(term, term))}'
             "</text>"]
    for t in _ticks(lo, hi):
        y = sy(t)
        parts.append(f'<line x1="{ML}" x2="{W - MR}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{ML - 4}" y="{y + 3:.1f}" text-anchor="end">{t:.4g}</text>')
    step = max(1, n // 6)
    for i in range(0, n, step):
        label = rows[i].get("end") or rows[i].get("window")
        label = str(label)[5:16].replace("T", " ") if isinstance(label, str) else str(label)
        parts.append(f'<text x="{sx(i):.1f}" y="{H - MB + 14}" text-anchor="middle">{e(label)}</text>')
    parts.append(f'<text x="{(ML + W - MR) / 2}" y="{H - 4}" text-anchor="middle" fill="#555">'
                 f'window end (UTC) or index</text>')
    if band:
        upper = " ".join(f"{sx(i):.1f},{sy(h):.1f}" for i, _, h in band)
        lower = " ".join(f"{sx(i):.1f},{sy(lo_):.1f}" for i, lo_, _ in reversed(band))
        parts.append(f'<polygon points="{upper} {lower}" fill="#4c72b0" fill-opacity="0.18"/>')
    if thr:
        parts.append('<polyline fill="none" stroke="#444" stroke-dasharray="4 3" points="'
                     + " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in thr) + '"/>')
    parts.append('<polyline fill="none" stroke="#4c72b0" stroke-width="1.4" points="'
                 + " ".join(f"{sx(i):.1f},{sy(v):.1f}" for (i, _), v in zip(pts, ys)) + '"/>')
    for (i, r), v in zip(pts, ys):
        over = bool(r.get(f"{term}_over")) and watched
        fired = watched and term in str(r.get("alerts") or "").split(";")
        tip = f"window {r.get('window')} {r.get('end') or ''}: {v:.4g}"
        if isinstance(r.get(f"{term}_low"), (int, float)) and isinstance(r.get(f"{term}_high"), (int, float)):
            tip += f" [{r[f'{term}_low']:.4g}, {r[f'{term}_high']:.4g}]"
        if isinstance(r.get(f"{term}_p"), (int, float)):
            tip += f", p = {r[f'{term}_p']:.3g}"
        color = "#c44e52" if fired else ("#dd8452" if over else "#4c72b0")
        x, y = sx(i), sy(v)
        shape = (f'<path d="M{x - 5:.1f},{y - 9:.1f} h10 l-5,8 z" fill="{color}">' if fired
                 else f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3.2 if over else 2.2}" fill="{color}">')
        parts.append(shape + f"<title>{e(tip)}</title>" + ("</path>" if fired else "</circle>"))
    parts.append("</svg>")
    return "".join(parts)


def plot_term(rows: Sequence[Mapping[str, Any]], term: str, path: Path, watched: bool) -> str | None:
    """Write the term's SVG plot (:func:`svg_term`) to ``path`` atomically; returns the SVG (None: no data)."""
    svg = svg_term(rows, term, watched)
    if svg is None:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, svg + "\n")
    return svg


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "✔" if v else ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape("" if v is None else str(v))


def render(out: Path, rows: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]],
           terms: Sequence[str], watched: Sequence[str], info: Mapping[str, Any], refresh_s: int | None) -> Path:
    """Redraw every plot and ``index.html`` in ``out``; returns the page's path."""
    plots = {t: plot_term(rows, t, out / "plots" / f"{t}.svg", t in watched) for t in terms}
    head = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in info.items())
    alert_rows = "".join(
        f"<tr><td>{a['window']}</td><td>{html.escape(str(a['end']))}</td><td>{html.escape(', '.join(a['terms']))}</td>"
        f"<td>{html.escape(str(a['moved_most']))}</td><td>"
        + html.escape(", ".join(f"{s['id']} ({s['score']:.3g})" for s in a.get("top_samples", [])[:5]))
        + "</td></tr>" for a in reversed(alerts[-50:]))
    figs = "".join(f"<figure>{p}</figure>" for t, p in plots.items() if p)
    show = ["window", "end", "n", "skipped"] + [t for t in terms] + ["moved_most", "alerts"]
    table = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in show) + "</tr>"
                    for r in reversed(rows[-TABLE_ROWS:]))
    meta = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8">{meta}<title>mllmshift monitor</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px}}table{{border-collapse:collapse;
font-size:12px}}td,th{{border:1px solid #ddd;padding:2px 6px;text-align:left}}figure{{display:inline-block;
margin:4px}}svg{{max-width:100%;height:auto}}</style></head><body>
<h1>mllmshift monitor</h1>
<p>Each window of the stream against the reference window: drift terms (JSDs), the bound's answer term and
EMI/EMID where records have reference answers, with bootstrap CIs. A window is over when a watched term's
permutation p-value against the reference's own no-shift spread at the same window size is at most its level
(orange); an alert (red) fires after the configured number of consecutive over windows. Hover a point for its
values. Metrics for dashboards: <a href="metrics.prom">metrics.prom</a>. Data: <a href="series.csv">series.csv</a>,
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
