"""The real-data table as Markdown, CSV, JSON and a plot (``real.md``, ``real.csv``, ``real.json``, ``real.png``)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from mllmshift.io.atomic import atomic_write_text
from mllmshift.provenance import environment

NOTES = (
    "Encoders: every text is embedded with multilingual USE (raw text) unless the configuration's label ends in "
    "`@e5` (multilingual-e5-small) or `@use-md` (USE with normalize: markdown); those rows are scored against "
    "bounds computed on their own embeddings (rjsd and rjsd-debiased only), over 2 ensembles (time).",
    "AlpacaEval: X = the instruction (multilingual USE), Ŷ = the model's output, Y = gpt4_1106_preview's; one "
    "estimator per member fitted on the pooled (X, Ŷ) and (X, Y) pairs of the 12 models. ρ/τ: Spearman/Kendall "
    "of the 12 models' EMI with the judge's length-controlled (LC) or raw (WR) win rate; ensemble 0 with a "
    "bootstrap 95 % CI over models, then mean ± sd over ensembles. 60: EMI per model × subset against the "
    "model's win rate (the judge scores only whole models); within: mean over the 5 subsets of ρ across the "
    "12 models with LC.",
    "LLaVA-Bench: LLaVA-1.5-13B, llava_bench_coco as ID, its 34 synthetic shifts, COCO captions for the images "
    "(mean fusion), pooled pairs of the 35 splits. EMID–bound: Pearson r / Spearman ρ over the 34 scenarios with "
    "the scale-adjusted bound of the named JSD estimator. Severity: mean EMI of the scenarios with an image "
    "corruption at severity 1 / 3 / 5.",
    "Stability: sd over ensembles of each EMI (mean over splits, LLaVA); sign-stable: share of the 34 "
    "scenarios whose EMID has the same sign in every ensemble. Sanity: the constant, empty and shuffled "
    "models (built from the data, not in the pool) must each get an EMI below every real split; share of "
    "ensembles where they do (AlpacaEval / LLaVA); ref: largest |EMI| of answers equal to the references. "
    "Saturated: share of splits whose larger MI is within 1 % of the estimator's ceiling. Time: seconds per "
    "configuration (K members × (fit + estimates)) on the shared 2-core machine.",
)


def _f(v: Any, d: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:+.{d}f}" if isinstance(v, float) and v < 0 else f"{v:.{d}f}"


def _corr_cell(c: dict[str, Any] | None, ci: bool = True) -> str:
    if not c:
        return "–"
    cell = _f(c["r"])
    if ci:
        cell += f" [{_f(c['ci_low'])}, {_f(c['ci_high'])}]"
    o = c.get("over_ensembles")
    if o and o.get("sd"):
        cell += f" ({_f(o['mean'])} ± {o['sd']:.2f})"
    return cell


def _sanity(s: dict[str, Any] | None) -> str:
    if not s:
        return "–"
    return "/".join(f"{s[k]['below_all_real']:.0%}".replace("%", "") for k in
                    ("sanity:constant", "sanity:empty", "sanity:shuffled"))


def rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per MI configuration (the CSV)."""
    out = []
    jsd_labels = list(table.get("jsd", {}))
    for label, r in table["mi"].items():
        ae, lv = r.get("alpacaeval", {}), r.get("llava", {})
        row: dict[str, Any] = {"config": label, "members": r["config"]["members"],
                               "estimator": r["config"]["member"]["name"]}
        for key in ("spearman_lc", "kendall_lc", "spearman_wr", "kendall_wr"):
            c = ae.get("models", {}).get(key)
            row[f"ae_{key}"] = c["r"] if c else None
            row[f"ae_{key}_mean"] = c["over_ensembles"]["mean"] if c else None
        for key in ("spearman60_lc", "spearman60_wr"):
            c = ae.get("subsets", {}).get(key)
            row[f"ae_{key}"] = c["r"] if c else None
        w = ae.get("subsets", {}).get("within_subset_spearman_lc")
        row["ae_within_spearman_lc"] = w["ensemble0"] if w else None
        for j in jsd_labels:
            b = lv.get("bound", {}).get(j)
            row[f"llava_pearson_{j}"] = b["pearson"]["r"] if b else None
            row[f"llava_spearman_{j}"] = b["spearman"]["r"] if b else None
            row[f"llava_pearson_{j}_mean"] = b["pearson"]["over_ensembles"]["mean"] if b else None
        for lvl, v in (lv.get("emi_by_severity") or {}).items():
            row[f"llava_emi_severity_{lvl}"] = v
        row["llava_sign_stable_share"] = lv.get("sign_stable_share")
        row["llava_emi_sd"] = lv.get("emi_sd_over_ensembles")
        row["ae_emi_sd"] = ae.get("emi_sd_over_ensembles")
        for name, part in (("ae", ae), ("llava", lv)):
            for case, v in (part.get("sanity") or {}).items():
                key = case.split(":")[1]
                row[f"{name}_sanity_{key}"] = v.get("below_all_real", v.get("max_abs_emi"))
        row["ae_saturated_models"] = (ae.get("saturated") or {}).get("models")
        row["ae_saturated_subsets"] = (ae.get("saturated") or {}).get("subsets")
        row["llava_saturated"] = lv.get("saturated")
        row["ae_seconds"], row["llava_seconds"] = ae.get("seconds"), lv.get("seconds")
        out.append(row)
    return out


def markdown(table: dict[str, Any]) -> str:
    s = table["seeds"]
    jsd = list(table.get("jsd", {}))
    main_jsd = [j for j in ("rjsd", "rjsd-debiased") if j in jsd] or jsd[:1]
    lines = [f"# Estimators on real data ({s} ensemble{'s' if s != 1 else ''} per configuration)", ""]
    lines += [f"- {n}" for n in NOTES] + [""]
    head = ["config", "K", "AE ρ LC", "AE τ LC", "AE ρ WR", "AE 60 ρ WR", "AE within ρ LC",
            *[f"LLaVA r / ρ ({j})" for j in main_jsd], "EMI sev 1/3/5", "sign-stable", "EMI sd",
            "sanity AE", "sanity LLaVA", "ref", "saturated AE/sub/LLaVA", "time AE / LLaVA (s)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in table["mi"].items():
        ae, lv = r.get("alpacaeval", {}), r.get("llava", {})
        m, sub = ae.get("models", {}), ae.get("subsets", {})
        cells = [f"`{label}`", str(r["config"]["members"]), _corr_cell(m.get("spearman_lc")),
                 _corr_cell(m.get("kendall_lc"), ci=False), _corr_cell(m.get("spearman_wr"), ci=False),
                 _corr_cell(sub.get("spearman60_wr"), ci=False),
                 _f((sub.get("within_subset_spearman_lc") or {}).get("ensemble0"))]
        for j in main_jsd:
            b = (lv.get("bound") or {}).get(j)
            cells.append(f"{_corr_cell(b['pearson'], ci=False)} / {_f(b['spearman']['r'])}" if b else "–")
        sev = lv.get("emi_by_severity") or {}
        cells.append("/".join(_f(sev.get(k)) for k in ("1", "3", "5")) if sev else "–")
        cells.append(_f(lv.get("sign_stable_share")))
        cells.append(_f(lv.get("emi_sd_over_ensembles"), 3))
        cells += [_sanity(ae.get("sanity")), _sanity(lv.get("sanity"))]
        refs = [p.get("sanity", {}).get("sanity:reference", {}).get("max_abs_emi") for p in (ae, lv) if p]
        cells.append(_f(max(refs), 3) if refs else "–")
        sat = ae.get("saturated") or {}
        cells.append(f"{_f(sat.get('models'))}/{_f(sat.get('subsets'))}/{_f(lv.get('saturated'))}")
        cells.append(f"{_f(ae.get('seconds'), 0)} / {_f(lv.get('seconds'), 0)}")
        lines.append("| " + " | ".join(cells) + " |")
    if jsd:
        lines += ["", "## EMID–bound by JSD estimator (LLaVA-Bench, 34 scenarios)", "",
                  "Pearson r / Spearman ρ of ensemble 0 (mean Pearson r over ensembles).", "",
                  "| MI \\ JSD | " + " | ".join(jsd) + " |", "|---|" + "---|" * len(jsd)]
        for label, r in table["mi"].items():
            b = (r.get("llava") or {}).get("bound") or {}
            cells = [f"{_f(b[j]['pearson']['r'])} / {_f(b[j]['spearman']['r'])} "
                     f"({_f(b[j]['pearson']['over_ensembles']['mean'])})" if j in b else "–" for j in jsd]
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        lines += ["", "| JSD estimator | seconds (34 bounds) | sd of a bound over seeds |", "|---|---:|---:|"]
        for j, v in table["jsd"].items():
            lines.append(f"| `{j}` | {v['seconds']:.1f} | {v['bound_sd_over_seeds']:.4f} |")
    sweeps = {lab: r["llava"]["k_sweep"] for lab, r in table["mi"].items() if "k_sweep" in (r.get("llava") or {})}
    if sweeps:
        lines += ["", "## Ensemble size (LLaVA-Bench)", "",
                  "Ensembles of K' members built from the same member runs: share of the 34 EMID signs stable over "
                  "the ensembles, sd of each EMI over ensembles, mean EMID–bound Pearson r per JSD estimator.", "",
                  "| config | K' | sign-stable | EMI sd | mean r (" + ", ".join(jsd) + ") |", "|---|---:|---:|---:|---|"]
        for lab, sw in sweeps.items():
            for k, v in sw.items():
                lines.append(f"| `{lab}` | {k} | {_f(v['sign_stable_share'])} | {_f(v['emi_sd_over_ensembles'], 3)} | "
                             + ", ".join(_f(v["bound"].get(j)) for j in jsd) + " |")
    ae_rows = {lab: r["alpacaeval"]["emi"] for lab, r in table["mi"].items() if "alpacaeval" in r}
    if ae_rows:
        models = list(next(iter(ae_rows.values())))
        labels = list(ae_rows)
        judge = table["data"]["alpacaeval"]["judge"]
        lines += ["", "## AlpacaEval: EMI per model (ensemble 0)", "",
                  "| model | LC | WR | " + " | ".join(labels) + " |", "|---|---:|---:|" + "---:|" * len(labels)]
        for mod in models:
            lines.append(f"| {mod} | {judge[mod]['length_controlled_winrate']:.1f} | {judge[mod]['win_rate']:.1f} | "
                         + " | ".join(_f(ae_rows[lab][mod], 3) for lab in labels) + " |")
    return "\n".join(lines) + "\n"


def write_report(table: dict[str, Any], out: Path, make_plot: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = {**table, "environment": environment()}
    atomic_write_text(out / "real.json", json.dumps(meta, indent=1, default=str) + "\n")
    flat = rows(table)
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for r in flat for k in r))
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(flat)
    atomic_write_text(out / "real.csv", buf.getvalue())
    atomic_write_text(out / "real.md", markdown(table))
    if make_plot and flat:
        plot(table, out / "real.png")


def plot(table: dict[str, Any], path: Path) -> None:
    """Four panels per configuration: AlpacaEval ρ(LC), LLaVA EMID–bound r, sign stability, time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(table["mi"])
    jsd = [j for j in ("rjsd", "classifier-jsd") if j in table.get("jsd", {})] or list(table.get("jsd", {}))[:1]
    fig, axes = plt.subplots(1, 4, figsize=(17, 0.45 * len(labels) + 2.2), sharey=True)
    ypos = range(len(labels))

    def bars(ax: Any, values: list[Any], errs: list[Any], title: str, xlim: tuple[float, float] | None) -> None:
        vals = [v if v is not None else 0.0 for v in values]
        ax.barh(list(ypos), vals, xerr=[e or 0.0 for e in errs], color="#4c72b0", alpha=0.85)
        ax.set_title(title, fontsize=10)
        if xlim:
            ax.set_xlim(*xlim)
        ax.axvline(0, color="k", lw=0.6)
        ax.grid(axis="x", alpha=0.3)

    ae = [table["mi"][lab].get("alpacaeval", {}).get("models", {}).get("spearman_lc") for lab in labels]
    bars(axes[0], [c["over_ensembles"]["mean"] if c else None for c in ae],
         [c["over_ensembles"]["sd"] if c else None for c in ae], "AlpacaEval: Spearman ρ(EMI, LC win rate)", (-1, 1))
    lv = [((table["mi"][lab].get("llava") or {}).get("bound") or {}).get(jsd[0]) if jsd else None for lab in labels]
    bars(axes[1], [c["pearson"]["over_ensembles"]["mean"] if c else None for c in lv],
         [c["pearson"]["over_ensembles"]["sd"] if c else None for c in lv],
         f"LLaVA: Pearson r(EMID, bound [{jsd[0] if jsd else '–'}])", (-1, 1))
    bars(axes[2], [(table["mi"][lab].get("llava") or {}).get("sign_stable_share") for lab in labels],
         [None] * len(labels), "LLaVA: share of EMID signs stable over ensembles", (0, 1))
    secs = [sum(filter(None, [(table["mi"][lab].get(d) or {}).get("seconds") for d in ("alpacaeval", "llava")]))
            for lab in labels]
    bars(axes[3], secs, [None] * len(labels), "time per configuration (s, both data sets)", None)
    axes[3].set_xscale("log")
    axes[0].set_yticks(list(ypos))
    axes[0].set_yticklabels(labels)
    axes[0].invert_yaxis()
    fig.suptitle(f"Real-data validation of the estimators ({table['seeds']} ensembles each)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
