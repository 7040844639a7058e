r"""The study's figures, drawn with matplotlib (Agg backend, no display needed) and saved as PNG.

- :func:`plot_emid_vs_bound`: EMID against its upper bound, one point per scenario coloured by group,
  with the least-squares line and Pearson's r;
- :func:`plot_emi_per_scenario`: EMI per scenario with its bootstrap CI, sorted, the ID EMI as a line;
- :func:`plot_severity_heatmap`: mean EMID per shift type × severity (grid studies);
- :func:`plot_jsd_terms`: the four JSD terms stacked per scenario as they enter the bound
  (:math:`\sqrt{J_v}, \sqrt{J_t}, J_P^{1/4}, J_Q^{1/4}`, times Ĥ and 4 in the theorem's form).

Each function takes the flat scenario rows of ``scenarios.csv`` and returns the PNG path, or None
when there is nothing to draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.io.atomic import atomic_open

GROUP_COLOURS = {"visual": "#1f77b4", "text": "#ff7f0e", "joint": "#2ca02c"}
TERM_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")
DPI = 110


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_open(path) as fh:
        fig.savefig(fh, format="png", dpi=DPI, bbox_inches="tight",
                    metadata={"Software": "mllmshift", "CreationDate": None})
    _plt().close(fig)
    return path


def _ok(v: Any) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def plot_emid_vs_bound(rows: Sequence[dict[str, Any]], path: Path, r: float | None = None,
                       p_value: float | None = None) -> Path | None:
    pts = [r_ for r_ in rows if _ok(r_.get("emid")) and _ok(r_.get("bound"))]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for g, c in GROUP_COLOURS.items():
        sel = [q for q in pts if q["group"] == g]
        if sel:
            ax.scatter([q["bound"] for q in sel], [q["emid"] for q in sel], c=c, label=f"{g} ({len(sel)})",
                       s=36, alpha=0.85, edgecolors="white", linewidths=0.5)
    x = np.array([q["bound"] for q in pts], float)
    y = np.array([q["emid"] for q in pts], float)
    if len(pts) >= 2 and np.ptp(x) > 0:
        slope, icept = np.polyfit(x, y, 1)
        xs = np.linspace(x.min(), x.max(), 50)
        ax.plot(xs, slope * xs + icept, color="#444", lw=1.2, ls="--", label="least-squares fit")
    title = "EMID against its upper bound"
    if _ok(r):
        title += f"  (Pearson r = {r:.2f}" + (f", p = {p_value:.2g})" if _ok(p_value) else ")")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("EMID upper bound (sum of JSD terms)")
    ax.set_ylabel("EMID = EMI(ID) − EMI(shifted)")
    ax.axhline(0, color="#bbb", lw=0.8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def plot_emi_per_scenario(rows: Sequence[dict[str, Any]], path: Path, id_emi: float | None = None) -> Path | None:
    pts = sorted([q for q in rows if _ok(q.get("emi"))], key=lambda q: q["emi"])
    if not pts:
        return None
    plt = _plt()
    h = max(3.0, 0.22 * len(pts) + 1.2)
    fig, ax = plt.subplots(figsize=(7.5, h))
    ys = np.arange(len(pts))
    for i, q in enumerate(pts):
        c = GROUP_COLOURS.get(q["group"], "#777")
        lo, hi = q.get("emi_low"), q.get("emi_high")
        if _ok(lo) and _ok(hi):
            ax.plot([lo, hi], [i, i], color=c, lw=1.6, alpha=0.7)
        ax.plot(q["emi"], i, "o", color=c, ms=4.5)
    if _ok(id_emi):
        ax.axvline(id_emi, color="#d62728", lw=1.2, ls="--", label=f"ID EMI = {id_emi:.3f}")
    ax.set_yticks(ys)
    ax.set_yticklabels([q["scenario"] for q in pts], fontsize=7 if len(pts) > 30 else 8)
    ax.set_xlabel("EMI = I(X;Ŷ) − I(X;Y)  (nats; higher is better, bars: bootstrap CI)")
    ax.set_title("EMI per scenario, sorted", fontsize=11)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=g) for g, c in GROUP_COLOURS.items()
               if any(q["group"] == g for q in pts)]
    if _ok(id_emi):
        handles.append(plt.Line2D([], [], color="#d62728", ls="--", label=f"ID EMI = {id_emi:.3f}"))
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.5 / h - 0.06),
              ncol=len(handles), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def severity_table(rows: Sequence[dict[str, Any]], value: str = "emid") -> tuple[list[str], list[int], np.ndarray]:
    """Single-shift scenarios as a (shift type × severity) table of mean ``value`` (NaN where none)."""
    cells: dict[tuple[str, int], list[float]] = {}
    for q in rows:
        if not _ok(q.get(value)):
            continue
        if q["group"] == "visual" and q.get("visual") and q.get("severity") is not None:
            key = (str(q["visual"]), int(q["severity"]))
        elif q["group"] == "text" and q.get("text") and q.get("level") is not None:
            key = (str(q["text"]), int(q["level"]))
        else:
            continue
        cells.setdefault(key, []).append(float(q[value]))
    kinds = sorted({k for k, _ in cells})
    levels = sorted({s for _, s in cells})
    table = np.full((len(kinds), len(levels)), np.nan)
    for (k, s), v in cells.items():
        table[kinds.index(k), levels.index(s)] = float(np.mean(v))
    return kinds, levels, table


def plot_severity_heatmap(rows: Sequence[dict[str, Any]], path: Path, value: str = "emid") -> Path | None:
    kinds, levels, table = severity_table(rows, value)
    if len(kinds) == 0 or np.isfinite(table).sum() < 2:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.3 * len(levels) + 3.2, 0.55 * len(kinds) + 1.6))
    lim = np.nanmax(np.abs(table)) or 1.0
    im = ax.imshow(np.ma.masked_invalid(table), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(kinds)):
        for j in range(len(levels)):
            if np.isfinite(table[i, j]):
                ax.text(j, i, f"{table[i, j]:+.3f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(table[i, j]) > 0.6 * lim else "black")
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([str(s) for s in levels])
    ax.set_yticks(range(len(kinds)))
    ax.set_yticklabels(kinds)
    ax.set_xlabel("severity (visual) / level (text)")
    ax.set_title(f"{value.upper()} by shift type and severity (red = worse under shift)", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.85)
    return _save(fig, path)


def bound_contributions(row: dict[str, Any], entropy_scale: float | None) -> list[float]:
    """The four terms as they add up to the bound: √J_v, √J_t, J_P^¼, J_Q^¼ (×Ĥ, ×4 in the theorem form)."""
    h = 1.0 if entropy_scale is None else float(entropy_scale)
    k = 1.0 if entropy_scale is None else 4.0
    f = lambda v, p, s: 0.0 if not _ok(v) else s * max(float(v), 0.0) ** p  # noqa: E731
    return [f(row.get("jsd_visual"), 0.5, h), f(row.get("jsd_text"), 0.5, h),
            f(row.get("jsd_id_output"), 0.25, k), f(row.get("jsd_ood_output"), 0.25, k)]


def plot_jsd_terms(rows: Sequence[dict[str, Any]], path: Path, entropy_scale: float | None = None) -> Path | None:
    pts = [q for q in rows if _ok(q.get("jsd_text"))]
    if not pts:
        return None
    pts = sorted(pts, key=lambda q: sum(bound_contributions(q, entropy_scale)))
    plt = _plt()
    h = max(3.0, 0.22 * len(pts) + 1.4)
    fig, ax = plt.subplots(figsize=(7.5, h))
    contrib = np.array([bound_contributions(q, entropy_scale) for q in pts])
    s = "Ĥ·" if entropy_scale is not None else ""
    k = "4·" if entropy_scale is not None else ""
    labels = [f"{s}√JSD(P_Xv‖Q_Xv)  visual input", f"{s}√JSD(P_Xt‖Q_Xt)  text input",
              f"{k}JSD(P_Ŷ‖P_Y)^¼  ID output", f"{k}JSD(Q_Ŷ‖Q_Y)^¼  shifted output"]
    left = np.zeros(len(pts))
    ys = np.arange(len(pts))
    for t in range(4):
        ax.barh(ys, contrib[:, t], left=left, color=TERM_COLOURS[t], label=labels[t], height=0.75)
        left += contrib[:, t]
    for i, q in enumerate(pts):
        if q.get("partial"):
            ax.text(left[i], i, "  partial", va="center", fontsize=7, color="#a00")
    ax.set_yticks(ys)
    ax.set_yticklabels([q["scenario"] for q in pts], fontsize=7 if len(pts) > 30 else 8)
    ax.set_xlabel("contribution to the EMID upper bound")
    ax.set_title("The four JSD terms of the bound, stacked per scenario", fontsize=11)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.5 / h - 0.06), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
