"""The study report: ``report.md`` and ``report.html`` (with the PNG plots) from a typed study result.

It is written for someone who has not read the code: it first says in words what was measured
(EMI, EMID, the bound), then gives the headline numbers, the setup (data, encoders, estimator,
responder, caveats), the correlation tables, the per-scenario table and the plots, and ends with
how to reproduce the numbers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mllmshift.evaluation.results import StudyResult
from mllmshift.io.atomic import atomic_write_text
from mllmshift.report import plots
from mllmshift.report.document import (Bullets, Document, Figure, Heading, Paragraph, Table, ci, fmt, fmt_p,
                                       rows_of, to_html, to_markdown)

GROUP_TEXT = {"visual": "the image is shifted, the question is not",
              "text": "the question is shifted, the image is not",
              "joint": "both are shifted"}

EXPLAINER = (
    "This report measures how much a multimodal model's answers lose under distribution shift. "
    "Every question (with its image) is turned into an embedding X; the model's answer Ŷ and a reference "
    "answer Y (from a strong model or a human) are embedded too. **EMI** (effective mutual information) is "
    "I(X;Ŷ) − I(X;Y): how much information the model's answers carry about the input, relative to the reference "
    "answers (higher is better; 0 means as informative as the references). **EMID** = EMI(in-distribution) − "
    "EMI(shifted) is the drop caused by a shift (positive = worse under the shift). The **upper bound** of EMID "
    "(Oh et al., ICML 2025, Theorem 4.5) adds up four Jensen–Shannon divergences: how far the shifted images and "
    "the shifted questions moved from the in-distribution ones, and how far the model's answers are from the "
    "reference answers in-distribution and under the shift. If the bound explains the gap, EMID and the bound "
    "rise together across scenarios, which the correlations below test."
)


def _cor_table(block: dict[str, Any], caption: str) -> Table:
    rows = []
    for group in ("all", "visual", "text", "joint"):
        e = block.get(group)
        if not e:
            continue
        for m in ("pearson", "spearman", "kendall"):
            c = e.get(m) or {}
            rows.append((group, m.capitalize(), str(e.get("n", "")), fmt(c.get("r")), fmt_p(c.get("p_value")),
                         ci(c.get("ci_low"), c.get("ci_high"))))
    return Table(("scenarios", "coefficient", "n", "r", "p-value", "bootstrap CI"), rows_of(rows), caption,
                 ("l", "l", "r", "r", "r", "l"))


def build_document(result: StudyResult, figures: dict[str, Path]) -> Document:
    cfg, study = result.config, result.study
    summ = result.summary
    data = result.data
    doc = Document(result.title or "Distribution-shift study")
    doc.add(Heading("What was measured"), Paragraph(EXPLAINER))

    resp = data.get("responder")
    if resp and resp.get("baseline"):
        doc.add(Paragraph(f"**The answers in this study come from {resp['label']}**, not from a multimodal LLM. "
                          "It is a stand-in that lets the whole pipeline run offline; its numbers illustrate the "
                          "method, they say nothing about any LLM.", "warning"))

    # -- headline
    doc.add(Heading("Headline numbers"))
    pr = summ.get("emid_bound_pearson")
    id_ci = result.id.ci
    head = [f"In-distribution EMI of `{data['id']['name']}`: **{fmt(summ.get('id_emi'), signed=True)}** "
            f"({cfg.confidence:.0%} CI {ci(None if id_ci is None else id_ci.low, None if id_ci is None else id_ci.high)}).",
            f"{summ['n_scenarios']} shifted scenarios ({summ['n_complete']} with every term"
            + (f", {summ['n_partial']} partial: no reference answers" if summ.get("n_partial") else "") + ").",
            f"Mean EMI under shift: **{fmt(summ.get('mean_emi'), signed=True)}**; mean EMID: "
            f"**{fmt(summ.get('mean_emid'), signed=True)}**; mean bound: {fmt(summ.get('mean_bound'))}.",
            f"Correlation of EMID with its bound across scenarios: Pearson r = **{fmt(pr, 2)}** "
            f"(p = {fmt_p(summ.get('emid_bound_pearson_p'))}), Spearman ρ = {fmt(summ.get('emid_bound_spearman'), 2)}, "
            f"Kendall τ = {fmt(summ.get('emid_bound_kendall'), 2)}."]
    if summ.get("worst_scenario"):
        w, b = summ["worst_scenario"], summ["best_scenario"]
        head.append(f"Hardest scenario: `{w['name']}` (EMI {fmt(w['emi'], signed=True)}, EMID "
                    f"{fmt(w['emid'], signed=True)}); easiest: `{b['name']}` (EMI {fmt(b['emi'], signed=True)}).")
    if summ.get("mean_emi_by_visual_severity"):
        sev = ", ".join(f"severity {k}: {v:+.3f}" for k, v in summ["mean_emi_by_visual_severity"].items())
        head.append(f"Mean EMI of the visual shifts by severity: {sev}.")
    if summ.get("n_sign_unstable"):
        head.append(f"{summ['n_sign_unstable']} of {summ['n_complete']} scenarios have an EMID whose sign is not "
                    "stable (an estimator of the ensemble disagrees, or the interval includes 0): marked † below.")
    doc.add(Bullets(tuple(head)))

    # -- setup
    enc = result.encoders
    est = result.estimator
    img = enc.get("image")
    k = len(est.get("members") or ()) or cfg.n_estimators  # a saved estimator brings its own ensemble size
    members = f"{k} estimators (seeds derived from {cfg.seed}) " if k > 1 else ""
    setup = [
        f"In-distribution split: `{data['id']['name']}` ({data['id']['n']} samples).",
        "Scenario groups: " + "; ".join(f"**{g}** ({n}): {GROUP_TEXT[g]}" for g, n in (data.get("groups") or {}).items()
                                        if n) + ".",
        f"Text encoder: `{enc['text']['config'].get('name')}`; image encoder: "
        f"`{img['config'].get('name') if img else 'none'}`; fusion of image and question into X: `{enc['fusion']}`.",
        (f"MI estimator: `{est['config'].get('name')}` loaded from `{est.get('path')}`."
         if est.get("source") == "checkpoint" else
         f"MI estimator: {members}`{est['config'].get('name')}` trained once on {est.get('n_pairs')} pooled (X, answer) "
         f"and (X, reference) pairs of {len(est.get('trained_on', []))} splits, seed {cfg.seed}, early-stopped on a "
         f"held-out {est['config'].get('val_fraction', 0):.0%} (best "
         + _best_point(est.get("history") or {}) + ")."),
        f"Estimator fit: {_fit_line(est)}.",
        f"Bound form: `{cfg.bound_form}`" + (f" with Ĥ = {cfg.entropy_scale}" if cfg.entropy_scale
                                             else " (Ĥ = 1, no factor 4, as in the authors' code)")
        + f"; JSDs estimated with `{cfg.divergence.name}` ({_divergence_text(cfg.divergence.name)}).",
        f"Confidence intervals: percentile bootstrap, {cfg.n_resamples} resamples of samples per scenario "
        + ("(estimator fixed)" if k == 1 else f"(replicate b uses ensemble member b mod {k})")
        + f"; correlation CIs resample scenarios ({study.get('correlation_resamples', '?')} resamples); "
        f"level {cfg.confidence:.0%}.",
    ]
    held = est.get("held_out") or {}
    if held.get("scores") == "held-out":
        setup.append(f"MI estimates are held out: each member is cross-fitted over {held.get('folds')} folds of the "
                     f"{held.get('n_groups')} sample ids (every version of an item in one fold), and each pair is "
                     f"scored by the `{held.get('base')}` fit that never saw its item.")
    elif held.get("scores") == "in-sample":
        setup.append("MI estimates are in-sample: the estimator is scored on the pairs it was fitted on (folds 0), "
                     "which over-states MI at small n.")
    if resp:
        setup.append(f"Responses: generated by `{resp['label']}`.")
    doc.add(Heading("Setup"), Bullets(tuple(setup)))
    caveats = list(data.get("notes") or [])
    saturated = _saturated(result)
    if saturated:
        ceiling = saturated[0][1]
        caveats.append(f"{len(saturated)} EMI value(s) have an MI estimate at the estimator's ceiling "
                       f"({ceiling:.3f} nats = ln n for InfoNCE): the MI exceeds what n samples can certify, so "
                       "those EMIs compare how close the answers and the references come to the cap and are only "
                       "comparable between splits of equal size: "
                       + ", ".join(f"`{name}`" for name, _ in saturated[:8]) + (" …" if len(saturated) > 8 else "")
                       + ".")
    above = [s.name for s in (result.id, *(sc.shifted for sc in result.scenarios))
             if s.emi is not None and s.emi.above_data_limit]
    if above:
        caveats.append(f"{len(above)} EMI value(s) rest on an MI estimate above ln n, more than n pairs can support "
                       "(an estimator fitted and scored on the same pairs, or an unbounded DV term): read them as "
                       "unsupported, not as measured: " + ", ".join(f"`{n}`" for n in above[:8])
                       + (" …" if len(above) > 8 else "") + ".")
    for form, key in (("scale-adjusted", "bound_violated"), ("theorem's", "bound_theorem_violated")):
        if summ.get(key):
            names = summ[key]
            caveats.append(f"EMID exceeds its upper bound ({form} form"
                           + (", Ĥ = ln n: the largest the data allow, see `mllmshift.bound.conservative_entropy_scale`"
                              if form == "theorem's" and not cfg.entropy_scale else "")
                           + f") in {len(names)} of {summ.get('n_bound_checked', '?')} scenario(s): the bound does not "
                           "hold there as estimated: " + ", ".join(f"`{n}`" for n in names[:8])
                           + (" …" if len(names) > 8 else "") + ".")
    low = sorted({k for sc in result.scenarios for k in sc.bound.below_resolution})
    if low:
        caveats.append("Bound terms below their estimator's resolution are shown as `<r` (r from the estimator's "
                       "spread under P = Q), not as a measured 0: " + ", ".join(f"`{k}`" for k in low) + ".")
    if summ.get("sign_unstable"):
        names = summ["sign_unstable"]
        caveats.append("EMID sign not stable (read their EMID as ‘no clear change’): "
                       + ", ".join(f"`{n}`" for n in names[:8]) + (" …" if len(names) > 8 else "") + ".")
    if caveats:
        doc.add(Heading("Caveats", 3), Bullets(tuple(caveats)))

    # -- correlations
    cors = result.correlations
    doc.add(Heading("Does the bound explain the gap?"),
            Paragraph("Correlation of EMID with its upper bound across scenarios (scenarios with every term only), "
                      "over all scenarios and within each group. p-values are two-sided (scipy); the CI resamples "
                      "scenarios."),
            _cor_table(cors.get("emid_vs_bound") or {}, "EMID vs EMID upper bound"))
    for kind, block in (cors.get("emid_vs_bound_by_kind") or {}).items():
        if block:
            doc.add(_cor_table(block, f"EMID vs EMID upper bound, {kind} scenarios only"))
    for key, block in (cors.get("emi_vs_judge") or {}).items():
        doc.add(_cor_table(block, f"EMI vs judge score `{key}`"))
    if "emid_vs_bound" in figures:
        doc.add(Figure(figures["emid_vs_bound"], "EMID against its upper bound, one point per scenario; dashed: "
                       "least-squares line."))

    # -- per scenario
    rows = sorted(result.rows(), key=lambda r: (r["emi"] is None, -(r["emi"] or 0.0)))
    bounds = {sc.name: sc.bound for sc in result.scenarios}
    table_rows = []
    for r in rows:
        b = bounds.get(r["scenario"])
        term = lambda k, field: b.shown(k) if b is not None and r[field] is not None else fmt(r[field], 4)  # noqa: E731
        table_rows.append((r["scenario"] + (" *" if r["partial"] else ""), r["group"] or "—", str(r["n"]),
                           fmt(r["emi"], signed=True) + (" !" if r.get("mi_above_limit") else ""),
                           ci(r["emi_low"], r["emi_high"]), fmt(r["emid"], signed=True),
                           ci(r["emid_low"], r["emid_high"]), "†" if r["sign_stable"] is False else "",
                           fmt(r["bound"]) + (" ✗" if r.get("bound_holds") is False else ""),
                           term("visual", "jsd_visual"), term("text", "jsd_text"),
                           term("id_output", "jsd_id_output"), term("ood_output", "jsd_ood_output")))
    doc.add(Heading("Per scenario"),
            Paragraph("Sorted by EMI (best first). JSD columns are the four divergences of the bound: visual input, "
                      "text input, answers vs references in-distribution (P) and under the shift (Q). "
                      "`*` marks a partial scenario: it has no reference answers, so EMI, EMID and the shifted-output "
                      "term cannot be computed; the other terms are shown. † marks an EMID whose sign is not stable, ✗ a bound "
                      "below EMID (scale-adjusted form), ! an EMI resting on an MI above ln n; `<r`: a term below "
                      "its estimator's resolution r."),
            Table(("scenario", "group", "n", "EMI", "EMI CI", "EMID", "EMID CI", "sign", "bound", "JSD visual",
                   "JSD text", "JSD P(Ŷ‖Y)", "JSD Q(Ŷ‖Y)"), rows_of(table_rows), "",
                  ("l", "l", "r", "r", "l", "r", "l", "l", "r", "r", "r", "r", "r")))
    for key, caption in (("emi_per_scenario", "EMI per scenario with its bootstrap CI; dashed: the ID EMI."),
                         ("severity_heatmap", "EMID by shift type and severity (single-shift scenarios)."),
                         ("jsd_terms", "The four terms of the bound, stacked per scenario.")):
        if key in figures:
            doc.add(Figure(figures[key], caption))

    # -- reproduce
    vers = result.environment.get("versions") or {}
    run = result.run
    git = run.get("git") or {}
    made = [f"Made {run['created']}" if run.get("created") else "",
            f"mllmshift {run['mllmshift']}" if run.get("mllmshift") else "",
            f"git {git['commit'][:12]}{' (with local changes)' if git.get('dirty') else ''}" if git.get("commit") else "",
            "{cpu}, {usable_cpus} usable CPUs, {threads} thread(s), {device}".format(**run["host"])
            if run.get("host") else ""]
    how = tuple(x for x in (f"Command: `{run['command']}`" if run.get("command") else "",
                            "; ".join(m for m in made if m) + "." if any(made) else "",
                            "Inputs (SHA-256 of each in `results.json`, `run.inputs`): "
                            + ", ".join(f"`{i['path']}`" for i in run.get("inputs") or []) + "."
                            if run.get("inputs") else "") if x)
    doc.add(Heading("Reproduce"),
            Bullets(how + (f"Config: `{study.get('source') or '(built in)'}`, seed {cfg.seed}; the resolved config, every "
                     "seed and every number are in `results.json`, one row per scenario in `scenarios.csv`, one row "
                     "per sample in `samples/`.",
                     "Package versions: " + ", ".join(f"{k} {v}" for k, v in vers.items() if v) + ".",
                     f"Run: {result.run.get('wall_s', '?')} s; rerunning the same command reads every "
                     "stage back from `.state/` and gives identical numbers.")))
    return doc


def write_report(result: StudyResult, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Draw the plots and write ``report.md`` and ``report.html`` into ``out``; returns the files written."""
    out = Path(out)
    rows = result.rows()
    allc = (result.correlations.get("emid_vs_bound") or {}).get("all", {}).get("pearson") or {}
    scale = result.config.entropy_scale if result.config.bound_form == "theorem" else None
    figs: dict[str, Path] = {}
    for key, fn in (("emid_vs_bound", lambda p: plots.plot_emid_vs_bound(rows, p, allc.get("r"), allc.get("p_value"))),
                    ("emi_per_scenario", lambda p: plots.plot_emi_per_scenario(rows, p, result.id.value)),
                    ("severity_heatmap", lambda p: plots.plot_severity_heatmap(rows, p)),
                    ("jsd_terms", lambda p: plots.plot_jsd_terms(rows, p, scale))):
        path = fn(out / "plots" / f"{key}.png")
        if path is not None:
            figs[key] = path
    doc = build_document(result, figs)

    atomic_write_text(out / "report.md", to_markdown(doc, out))
    atomic_write_text(out / "report.html", to_html(doc))
    files = {"report.md": out / "report.md", "report.html": out / "report.html"}
    files.update({f"plots/{k}.png": v for k, v in figs.items()})
    return files


def _fit_line(est: dict[str, Any]) -> str:
    """Which fit the values are relative to: its fingerprint and fitting set (:mod:`mllmshift.evaluation.artifact`)."""
    from mllmshift.evaluation.artifact import fit_line

    return fit_line(est)


def _divergence_text(name: str) -> str:
    """The registry's one-line description of divergence estimator ``name``."""
    from mllmshift.estimators import divergence_estimators

    entry = next((e for e in divergence_estimators.entries() if e.name == name), None)
    return entry.description if entry is not None and entry.description else "see its docs"


def _best_point(history: dict[str, Any]) -> str:
    """'epoch N' (CLUB) or 'step N' (critic-based estimators) of the kept fit."""
    if "best_epoch" in history:
        return f"epoch {history['best_epoch']}"
    if "best_step" in history:
        return f"step {history['best_step']}"
    return "fit"


def _saturated(result: StudyResult) -> list[tuple[str, float]]:
    """(split, ceiling) of every EMI whose MI estimate sits at the estimator's ceiling."""
    splits = [result.id, *(s.shifted for s in result.scenarios)]
    return [(s.name, float(s.emi.ceiling)) for s in splits  # type: ignore[union-attr, arg-type]
            if s.saturated]
