"""The decision rule's table (``rule.md``, ``rule.csv``, ``rule.png``): every score the rule reads, per MI
configuration, and the decision it gives (:mod:`.rule`). The full numbers are in ``real.json`` beside it."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from mllmshift.io.atomic import atomic_write_text
from mllmshift.validation.real.rule import FOLLOWED, JUDGED, MAX_ABOVE_LN_N, SHIFT, gates

NOTES = (
    "Judged set: `alpacaeval-dev48`, 48 models; each configuration fitted on the declared fitting pool (96 "
    "instructions × 48 models, (X, Ŷ) and (X, Y): 9,216 pairs) and estimated on 128 other instructions per model. "
    "ρ LC: Spearman of the 48 EMIs with the length-controlled win rate, ensemble 0, 95 % bootstrap CI over models; "
    "mean ± sd over ensembles in brackets where there are several.",
    "Consistency: Spearman over the 48 models between the EMIs of the fit above and of a fit on the same "
    "instructions × a seeded half of the models (same seeds); rel. Δ = mean |ΔEMI| / sd of EMI over models. "
    "Coverage: share of (model, other call) whose other call's EMI (other seed ensembles; the half-model fit) lies "
    "in the 95 % interval of call 0 (100 bootstrap resamples of the 128 rows, member b mod K, estimator fixed); "
    "width: its mean width in nats.",
    "LLaVA-Bench (LLaVA-1.5-13B, 34 synthetic shifts, pooled fit of 35 × 90 × 2 = 6,300 pairs): monotonicity = "
    "share of the 102 ordered pairs (one shift factor more severe, all else equal) whose EMI falls; r = Pearson of "
    "EMID with the scale-adjusted bound (rjsd / rjsd-debiased). Small n: each of 10 splits fitted alone (n = 90, as "
    "`mllmshift emi FILE`): noise = mean sd of EMI over seed ensembles / sd of EMI over the splits; I(X;Ŷ) of the ID "
    "split (mean over seeds; ln 90 = 4.50).",
    "g3 (the amendment of 2026-12-07): share of the 48 models (n = 128 estimation rows each, ln n = 4.85) / of the "
    "10 per-split fits (n = 90, ln n = 4.50) whose ensemble-0 Î(X;Ŷ) or Î(X;Y) exceeds ln n; over 10 % is out "
    "(the small-n pass reads both, the large-n pass the first). `gate` is the original rule's (g1, g2).",
    "Time: wall seconds on the shared 2-core machine, niced, under the load average given in docs/estimators.md "
    "(a process got a fraction of a core, so CPU seconds are below these): "
    "fit + estimates of one configuration on the judged set (K members), and per split at n = 90.",
)


def _f(v: Any, d: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:+.{d}f}" if isinstance(v, float) and v < 0 else f"{v:.{d}f}"


def _get(d: Any, *path: str) -> Any:
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def flat_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per configuration with every score of the rule (the CSV)."""
    out = []
    for label, r in table["mi"].items():
        ae, lv = r.get(JUDGED) or {}, r.get(SHIFT) or {}
        rho = _get(ae, "models", "spearman_lc") or {}
        out.append({
            "config": label, "members": r["config"]["members"], "estimator": r["config"]["member"]["name"],
            "gate": "; ".join(gates(r)) or "pass",
            "gate_amended": "; ".join(gates(r, amended=True, small_n=True)) or "pass",
            "ae48_above_ln_n": _get(ae, "above_ln_n", "share"),
            "small_n_above_ln_n": _get(lv, "small_n", "above_ln_n", "share"),
            "ae48_spearman_lc": rho.get("r"), "ae48_spearman_lc_ci_low": rho.get("ci_low"),
            "ae48_spearman_lc_ci_high": rho.get("ci_high"),
            "ae48_spearman_lc_mean": _get(rho, "over_ensembles", "mean"),
            "ae48_spearman_lc_sd": _get(rho, "over_ensembles", "sd"),
            "ae48_kendall_lc": _get(ae, "models", "kendall_lc", "r"),
            "ae48_spearman_wr": _get(ae, "models", "spearman_wr", "r"),
            "ae48_within_subset_lc": _get(ae, "subsets", "within_subset_spearman_lc", "ensemble0"),
            "ae48_saturated": _get(ae, "saturated", "models"),
            "ae48_consistency": _get(ae, "calls", "consistency", "spearman"),
            "ae48_consistency_rel_diff": _get(ae, "calls", "consistency", "relative_diff"),
            "ae48_coverage": _get(ae, "calls", "coverage", "share"),
            "ae48_coverage_width": _get(ae, "calls", "coverage", "mean_width"),
            "ae48_seconds": ae.get("seconds"),
            "llava_monotonicity": _get(lv, "monotonicity", "share"),
            "llava_pearson_rjsd": _get(lv, "bound", "rjsd", "pearson", "r"),
            "llava_pearson_rjsd_debiased": _get(lv, "bound", "rjsd-debiased", "pearson", "r"),
            "llava_sign_stable": lv.get("sign_stable_share"),
            "small_n_noise": _get(lv, "small_n", "noise_to_signal"),
            "small_n_seed_sd": _get(lv, "small_n", "seed_sd"),
            "small_n_mi_response_id": _get(lv, "small_n", "mi_response_id"),
            "small_n_seconds_per_split": _get(lv, "small_n", "seconds_per_split"),
            "llava_seconds": lv.get("seconds"),
        })
    return out


def _decision(d: dict[str, Any], what: str) -> list[str]:
    lines = [f"**{what}**: {d.get('status', '–')}."]
    if d.get("gated_out"):
        lines.append("Gated out: " + "; ".join(f"`{k}` ({', '.join(v)})" for k, v in d["gated_out"].items()) + ".")
    if d.get("rho_star"):
        lines.append(f"ρ* = {d['rho_star']['r']:.2f} (`{d['rho_star']['config']}`); eliminated at step 1 (CI upper "
                     f"end below ρ*): {', '.join(f'`{k}`' for k in d.get('eliminated_step1', [])) or 'none'}; "
                     f"survivors: {', '.join(f'`{k}`' for k in d.get('survivors', []))}.")
    if d.get("missing"):
        lines.append("Missing scores: " + "; ".join(f"`{k}` ({', '.join(v)})" for k, v in d["missing"].items())
                     + ".")
    if d.get("rank_sum"):
        lines.append("Rank sums: " + ", ".join(f"`{k}` {v:g}" for k, v in sorted(d["rank_sum"].items(),
                                                                               key=lambda kv: kv[1])) + ".")
    if d.get("not_run"):
        lines.append("Not run on the judged set (so no default is picked): "
                     + ", ".join(f"`{k}`" for k in d["not_run"]) + ".")
    if d.get("provisional"):
        lines.append(f"Provisional (among the candidates run only, not a decision): `{d['provisional']}` "
                     f"({d['why']}).")
    if d.get("choice"):
        lines.append(f"Choice: **`{d['choice']}`** ({d['why']}; tie window: "
                     f"{', '.join(f'`{k}`' for k in d['tie_window'])}).")
    return lines


def markdown(table: dict[str, Any]) -> str:
    lines = ["# The decision rule's table (docs/estimators.md, issue #19 item 6)", ""]
    lines += [f"- {n}" for n in NOTES]
    filled = {k: v for k, v in (table.get("filled_from_previous") or {}).items() if v.get("filled")}
    if filled:
        lines.append("- Filled from the previous table (`--fill-from`, validation/real/fill.py), where the units "
                     "recomputed now reproduce it exactly (largest difference of the compared EMIs, nats, in brackets): "
                     + "; ".join(f"`{k}` ({', '.join(sorted({'/'.join(f.split('/')[:2]) for f in v['filled']}))}; "
                                 f"{max(v['checks'].values()):.0e})" for k, v in filled.items()) + ".")
    lines.append("")
    head = ["config", "K", "gate", "g3: > ln n AE48 / n=90", "ρ LC [95 % CI]", "τ LC", "ρ WR", "within ρ", "consistency ρ (rel. Δ)",
            "coverage (width)", "monotonicity", "small-n noise", "I(X;Ŷ) n=90", "LLaVA r rjsd / deb.", "stable",
            "time AE48 / n=90 (s)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in flat_rows(table):
        rho = "–" if r["ae48_spearman_lc"] is None else (
            f"{_f(r['ae48_spearman_lc'])} [{_f(r['ae48_spearman_lc_ci_low'])}, {_f(r['ae48_spearman_lc_ci_high'])}]"
            + (f" ({_f(r['ae48_spearman_lc_mean'])} ± {r['ae48_spearman_lc_sd']:.2f})"
               if r["ae48_spearman_lc_sd"] else ""))
        lines.append("| " + " | ".join([
            f"`{r['config']}`", str(r["members"]), r["gate"],
            f"{_f(r['ae48_above_ln_n'])} / {_f(r['small_n_above_ln_n'])}", rho, _f(r["ae48_kendall_lc"]), _f(r["ae48_spearman_wr"]),
            _f(r["ae48_within_subset_lc"]), f"{_f(r['ae48_consistency'])} ({_f(r['ae48_consistency_rel_diff'])})",
            f"{_f(r['ae48_coverage'])} ({_f(r['ae48_coverage_width'])})", _f(r["llava_monotonicity"]),
            _f(r["small_n_noise"]), _f(r["small_n_mi_response_id"]),
            f"{_f(r['llava_pearson_rjsd'])} / {_f(r['llava_pearson_rjsd_debiased'])}", _f(r["llava_sign_stable"]),
            f"{_f(r['ae48_seconds'], 0)} / {_f(r['small_n_seconds_per_split'], 1)}"]) + " |")
    rule = table.get("rule") or {}
    titles = {"original": "The original rule (gates g1, g2)",
              "amended": f"The amended rule of 2026-12-07 (adds g3: out when over {MAX_ABOVE_LN_N:.0%} of the units "
                         "estimate above ln n)"}
    for which in ("original", "amended"):
        if which not in rule:
            continue
        v = rule[which]
        lines += ["", f"## {titles[which]}" + (" — the package's default follows it" if which == FOLLOWED else ""), ""]
        lines += _decision(v["large_n"], "Large n (pooled fits)") + [""]
        lines += _decision(v["small_n"], "Small n (small-n rank counted twice)") + [""]
        lines.append("The two agree." if v.get("agree") else "The two do not agree (or are not both decided).")
    return "\n".join(lines) + "\n"


def write_rule_report(table: dict[str, Any], out: Path, make_plot: bool = True) -> None:
    """``rule.md``, ``rule.csv`` and ``rule.png`` under ``out`` (when any configuration ran on the judged set)."""
    flat = flat_rows(table)
    if not any(r["ae48_spearman_lc"] is not None for r in flat):
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(flat[0]))
    w.writeheader()
    w.writerows(flat)
    atomic_write_text(out / "rule.csv", buf.getvalue())
    atomic_write_text(out / "rule.md", markdown(table))
    if make_plot:
        plot(flat, out / "rule.png")


def plot(flat: list[dict[str, Any]], path: Path) -> None:
    """ρ LC with its CI, consistency, monotonicity and small-n noise per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["config"] for r in flat]
    y = list(range(len(labels)))
    fig, axes = plt.subplots(1, 4, figsize=(16, 0.4 * len(labels) + 2.2), sharey=True)

    def v(x: Any) -> float:
        return float(x) if x is not None and math.isfinite(x) else math.nan

    rho = [v(r["ae48_spearman_lc"]) for r in flat]
    lo = [max(0.0, v(r["ae48_spearman_lc"]) - v(r["ae48_spearman_lc_ci_low"])) for r in flat]
    hi = [max(0.0, v(r["ae48_spearman_lc_ci_high"]) - v(r["ae48_spearman_lc"])) for r in flat]
    axes[0].errorbar(rho, y, xerr=[lo, hi], fmt="o", color="#4c72b0")
    axes[0].set_xlim(-1, 1)
    axes[0].set_title("AlpacaEval-48: Spearman ρ(EMI, LC), 95 % CI", fontsize=9)
    for ax, key, title, lim in ((axes[1], "ae48_consistency", "consistency ρ (pool A vs half-model fit)", (-1, 1)),
                                (axes[2], "llava_monotonicity", "LLaVA severity monotonicity (share of 102)", (0, 1)),
                                (axes[3], "small_n_noise", "small-n noise / signal (n = 90; lower better)", None)):
        ax.barh(y, [v(r[key]) for r in flat], color="#4c72b0", alpha=0.85)
        ax.set_title(title, fontsize=9)
        if lim:
            ax.set_xlim(*lim)
    for ax in axes:
        ax.axvline(0, color="k", lw=0.6)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(labels)
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
