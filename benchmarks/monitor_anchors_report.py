"""The tables and the plot of ``benchmarks/monitor_anchors.py`` (its results dict → markdown and PNG).

Usage: ``python benchmarks/monitor_anchors_report.py anchors/anchors.json --out anchors/`` redraws them from a
saved run.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

METHODS = ("mllmshift", "mmd", "classifier", "centroid")
#: the swap table's columns: the monitor's decision, its answer and question terms alone (each at Šidák's share)
SWAP_COLUMNS = ("mllmshift", "mllmshift.answer", "mllmshift.text", "mmd", "classifier", "centroid")


# ----------------------------------------------------------------------------- report
def _summary(delays: dict[str, dict[str, int | None]], horizon: int) -> dict[str, dict[str, float]]:
    out = {}
    for k in METHODS:
        d = [v[k] for v in delays.values()]
        hit = [x for x in d if x is not None]
        out[k] = {"detected": len(hit) / len(d), "mean_delay": float(np.mean(hit)) if hit else math.nan,
                  "horizon": horizon}
    return out


def _family(name: str) -> str:
    if name in ("Arabic", "Chinese", "English", "German", "Greek", "Hindi", "Korean"):
        return "language"
    if name.startswith("KeyboardAug"):
        return "typos"
    base = name.split("_")
    if base[0] == "sr":
        return "synonyms"
    image = "_".join(base[:2]) if base[0] == "defocus" else base[0]
    if "KeyboardAug" in name:
        return f"{image} + typos"
    if "sr" in base:
        return f"{image} + synonyms"
    return image


def report(res: dict, q: float, out: Path) -> str:
    lines = [f"Per-window level q = {q} for every method (k = 1); window 30 (LLaVA-Bench), 50 (AlpacaEval); "
             f"{res['null_draws']} null draws; encoder {res['encoder']}.", ""]
    lv = res["llava"]
    lines += ["| method | false alarms on no-shift windows | abrupt: detected (3 windows) | abrupt: mean delay | "
              "gradual: detected (10 windows) | gradual: mean delay |", "|---|---|---|---|---|---|"]
    ab, gr = _summary(lv["abrupt"], 3), _summary(lv["gradual"], 10)
    for k in METHODS:
        lines.append(f"| {k} | {lv['false_alarms'][k]}/{lv['controls']} ({lv['false_alarms'][k] / lv['controls']:.3f}) "
                     f"| {ab[k]['detected']:.2f} | {ab[k]['mean_delay']:.2f} | {gr[k]['detected']:.2f} | "
                     f"{gr[k]['mean_delay']:.2f} |")
    fams: dict[str, list[str]] = {}
    for name in lv["abrupt"]:
        fams.setdefault(_family(name), []).append(name)
    lines += ["", "Abrupt shifts per family: share of scenarios detected within 3 windows (mean delay):", "",
              "| family (scenarios) | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for fam, names in sorted(fams.items()):
        s = _summary({n: lv["abrupt"][n] for n in names}, 3)
        lines.append(f"| {fam} ({len(names)}) | " + " | ".join(
            f"{s[k]['detected']:.2f} ({s[k]['mean_delay']:.1f})" for k in METHODS) + " |")
    sw = res["swaps"]["pairs"]
    swaps = [p for p in sw if p["a"] != p["b"]]
    same = [p for p in sw if p["a"] == p["b"]]
    lines += ["", f"Silent model swaps (AlpacaEval, {len(res['swaps']['models'])} models, {len(swaps)} pairs; "
              f"controls A → A: {len(same)}): share detected within 6 windows of B, by the pair's LC win-rate gap "
              f"(mean delay in windows of B of the detected ones); controls: share with an over window among the 6 after "
              f"the (non-)swap:", "",
              "| LC gap | pairs | " + " | ".join(SWAP_COLUMNS) + " |", "|---|---|" + "---|" * len(SWAP_COLUMNS)]
    for lo, hi in ((0, 2), (2, 5), (5, 15), (15, 30), (30, 100)):
        grp = [p for p in swaps if lo <= p["gap"] < hi]
        if grp:
            lines.append(f"| {lo}–{hi} | {len(grp)} | " + " | ".join(_detected(grp, k) for k in SWAP_COLUMNS) + " |")
    lines.append(f"| controls A → A | {len(same)} | " + " | ".join(
        f"{np.mean([p['delay'][k] is not None for p in same]):.2f}" for k in SWAP_COLUMNS) + " |")
    pre = {k: sum(1 for p in sw if p["pre"][k]) for k in METHODS}
    lines.append("")
    lines.append("Pairs with an over window among the 2 windows before the swap: "
                 + ", ".join(f"{k} {pre[k]}/{len(sw)}" for k in METHODS) + ".")
    _plot(res, out / "anchors.png")
    return "\n".join(lines) + "\n"


def _detected(pairs: list[dict], method: str) -> str:
    """Share of swaps detected after the swap within the horizon, and the mean delay (windows of B) of those."""
    d = [p["delay"][method] for p in pairs if (p["delay"][method] or 0) >= 1]
    return f"{len(d) / len(pairs):.2f}" + (f" ({np.mean(d):.1f})" if d else "")


def _plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    lv = res["llava"]
    ab = _summary(lv["abrupt"], 3)
    gr = _summary(lv["gradual"], 10)
    xs = np.arange(len(METHODS))
    axes[0].bar(xs - 0.2, [ab[k]["detected"] for k in METHODS], 0.4, label="abrupt (3 windows)")
    axes[0].bar(xs + 0.2, [gr[k]["detected"] for k in METHODS], 0.4, label="gradual (10 windows)")
    axes[0].plot(xs, [lv["false_alarms"][k] / lv["controls"] for k in METHODS], "kx", label="false-alarm rate")
    axes[0].set_xticks(xs, METHODS)
    axes[0].set_ylabel("share of LLaVA-Bench scenarios detected")
    axes[0].legend(fontsize=7)
    swaps = [p for p in res["swaps"]["pairs"] if p["a"] != p["b"]]
    for k, mk in zip(METHODS, "os^v"):
        g = [p["gap"] for p in swaps]
        d = [p["delay"][k] if (p["delay"][k] or 0) >= 1 else 8 for p in swaps]
        axes[1].scatter(np.array(g) + 0.3 * METHODS.index(k), d, marker=mk, s=14, label=k, alpha=0.7)
    axes[1].set_xlabel("LC win-rate gap of the pair (AlpacaEval)")
    axes[1].set_ylabel("windows of B until over (8 = missed)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    res = json.loads(args.results.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    table = report(res, res["level"], args.out)
    (args.out / "anchors.md").write_text(table)
    print(table)
