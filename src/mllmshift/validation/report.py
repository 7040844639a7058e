"""Aggregate validation runs into a summary CSV, Markdown tables and an estimate-vs-truth plot.

Per (estimator, task, n) over the seeds that ran: mean estimate, bias = mean −
truth, standard deviation (ddof = 1), RMSE, mean wall time, and for two-sample
tests the rejection rate at α = 0.05 (``estimate`` is then the MMD² statistic).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY_COLUMNS = ("kind", "estimator", "task", "n", "truth", "mean", "bias", "std", "rmse", "seconds", "runs",
                   "failed", "rejection_rate")


def aggregate(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per (kind, estimator, task, n), in first-seen order."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["kind"], r["estimator"], r["task"], int(r["n"]))].append(r)
    out = []
    for (kind, est, task, n), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok" and math.isfinite(r["estimate"])]
        vals = np.array([r["estimate"] for r in ok])
        truth = float(rs[0]["truth"])
        mean = float(vals.mean()) if len(vals) else math.nan
        row = {"kind": kind, "estimator": est, "task": task, "n": n, "truth": truth, "mean": mean,
               "bias": mean - truth if kind != "test" else math.nan,
               "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
               "rmse": float(np.sqrt(np.mean((vals - truth) ** 2))) if len(vals) and kind != "test" else math.nan,
               "seconds": float(np.mean([r["seconds"] for r in rs])), "runs": len(ok), "failed": len(rs) - len(ok),
               "rejection_rate": math.nan}
        if kind == "test" and ok:
            row["rejection_rate"] = float(np.mean([r["p_value"] <= 0.05 for r in ok]))
        out.append(row)
    return out


def write_summary_csv(summary: Sequence[dict[str, Any]], path: str | Path) -> None:
    from mllmshift.io.atomic import atomic_open

    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        for r in summary:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def _fmt(v: float, digits: int = 3) -> str:
    if not math.isfinite(v):
        return "–"
    return f"{v:.{digits}f}" if abs(v) < 1e4 else f"{v:.1e}"


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "·"
    if r["runs"] == 0:
        return "fail"
    if r["kind"] == "test":
        return f"{r['rejection_rate']:.0%} rej. ({r['mean']:.3g})"
    sd = f" ± {_fmt(r['std'], 2)}" if math.isfinite(r["std"]) else ""
    return f"{_fmt(r['mean'], 2)}{sd}"


def markdown(summary: Sequence[dict[str, Any]]) -> str:
    """Per kind and n a wide table (tasks × estimators: mean ± std), then per-estimator summaries."""
    lines: list[str] = []
    for kind, title in (("mi", "MI estimators (nats)"), ("jsd", "JSD estimators (nats) and the MMD test")):
        rows = [r for r in summary if r["kind"] == kind or (kind == "jsd" and r["kind"] == "test")]
        if not rows:
            continue
        ests = list(dict.fromkeys(r["estimator"] for r in rows))
        tasks = list(dict.fromkeys(r["task"] for r in rows))
        index = {(r["estimator"], r["task"], r["n"]): r for r in rows}
        for n in sorted({r["n"] for r in rows}):
            lines += [f"### {title}, n = {n:,}", "",
                      "| task | truth | " + " | ".join(ests) + " |",
                      "|---|---:|" + "---:|" * len(ests)]
            for t in tasks:
                truth = next((r["truth"] for r in rows if r["task"] == t), math.nan)
                cells = [_cell(index.get((e, t, n))) for e in ests]
                lines.append(f"| {t} | {_fmt(truth)} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += [f"### {title}: summary over tasks", "",
                  "| estimator | n | tasks | median abs. bias | mean abs. bias | mean std | RMSE | mean time (s) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for e in ests:
            for n in sorted({r["n"] for r in rows}):
                rs = [r for r in rows if r["estimator"] == e and r["n"] == n and r["runs"] > 0]
                if not rs:
                    continue
                secs = float(np.mean([r["seconds"] for r in rs]))
                if rs[0]["kind"] == "test":
                    lines.append(f"| {e} | {n:,} | {len(rs)} | – | – | – | – | {secs:.2f} |")
                    continue
                stds = [r["std"] for r in rs if math.isfinite(r["std"])]
                bias = [abs(r["bias"]) for r in rs]
                rmse = float(np.sqrt(np.mean([r["rmse"] ** 2 for r in rs])))
                lines.append(
                    f"| {e} | {n:,} | {len(rs)} | {_fmt(float(np.median(bias)))} | {_fmt(float(np.mean(bias)))} | "
                    f"{_fmt(float(np.mean(stds)) if stds else math.nan)} | {_fmt(rmse)} | {secs:.2f} |")
        lines.append("")
    return "\n".join(lines)


def plot(summary: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Mean estimate (± std) against truth, one panel per (kind, n), one marker per estimator.

    The y range is [−¼, 2½] × the largest truth; estimates outside it are drawn on its edge with a cross.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in ("mi", "jsd") if any(r["kind"] == k for r in summary)]
    ns = sorted({r["n"] for r in summary})
    fig, axes = plt.subplots(len(kinds), len(ns), figsize=(4.2 * len(ns), 4.0 * len(kinds)), squeeze=False)
    markers = "osD^v<>pPX*h"
    for i, kind in enumerate(kinds):
        rows = [r for r in summary if r["kind"] == kind and r["runs"] > 0]
        ests = list(dict.fromkeys(r["estimator"] for r in rows))
        hi = max([r["truth"] for r in rows] + [1e-3]) * 1.15
        for j, n in enumerate(ns):
            ax = axes[i][j]
            ax.plot([0, hi], [0, hi], color="0.6", lw=1, ls="--")
            top, bottom = 2.5 * hi, -0.25 * hi
            for k, e in enumerate(ests):
                rs = [r for r in rows if r["estimator"] == e and r["n"] == n]
                if not rs:
                    continue
                truth = [r["truth"] for r in rs]
                mean = np.clip([r["mean"] for r in rs], bottom, top)
                sd = [min(r["std"], top - bottom) if math.isfinite(r["std"]) else 0.0 for r in rs]
                line = ax.errorbar(truth, mean, yerr=sd, fmt=markers[k % 12], ms=4, lw=0.8, capsize=2, label=e,
                                   alpha=0.85)
                off = [(t, m) for t, m, r in zip(truth, mean, rs) if not bottom <= r["mean"] <= top]
                if off:  # off-scale estimates sit on the edge, marked with a cross
                    ax.plot(*zip(*off), "x", ms=9, color=line[0].get_color())
            ax.set_ylim(bottom, top)
            ax.set_title(f"{'MI' if kind == 'mi' else 'JSD'}, n = {n:,}")
            ax.set_xlabel("truth (nats)")
            ax.set_ylabel("estimate (nats)")
            if kind == "jsd":
                ax.axhline(math.log(2), color="0.8", lw=0.8)
            if j == len(ns) - 1:
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
