"""Scores of each configuration from the cached runs: agreement with a judge or the bound, stability, sanity, time.

For an MI configuration with K members and S ensembles, ensemble ``s`` averages the EMIs of members
``s·K … s·K + K − 1`` (:meth:`~.configs.MIConfig.member_seeds`). Every number is computed per ensemble; tables
give ensemble 0 with a bootstrap CI over the correlated items (models, splits or scenarios; 1,000 resamples)
and the mean ± sd over the S ensembles.

- **AlpacaEval**: Spearman ρ and Kendall τ of the 12 models' EMI with the judge's length-controlled win rate
  (``lc``) and raw win rate (``wr``); per model × subset (60 points) ρ of EMI(model, subset) with the model's
  win rate (the judge scores only whole models), and the mean over the 5 subsets of the within-subset ρ across
  the 12 models with the length-controlled win rate.
- **LLaVA-Bench**: Pearson r and Spearman ρ of EMID with the bound of every JSD configuration over the 34
  synthetic scenarios; the mean EMI of the scenarios with an image corruption at severity 1, 3 and 5.
- **Stability**: the sd over ensembles of each EMI (mean over splits), and the share of scenarios whose EMID
  has the same sign in every ensemble.
- **Sanity**: whether the constant, empty and shuffled models get an EMI below every real model (share of
  ensembles), and the largest |EMI| of answers equal to the references (must be 0).
- **Saturation**: the share of splits whose Î(X;Ŷ) or Î(X;Y) is within 1 % of the estimator's ceiling.
- **Time**: mean seconds per member (fit + estimates on the real splits) × K.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mllmshift.metrics import SATURATION_TOLERANCE
from mllmshift.study.stats import correlate
from mllmshift.validation.real.configs import JSDConfig, MIConfig
from mllmshift.validation.real.data import JUDGE_SCORES

Runs = Mapping[int, Mapping[str, Any]]  # member seed → run dict
SANITY_BELOW = ("sanity:constant", "sanity:empty", "sanity:shuffled")
SANITY_ZERO = "sanity:reference"
CORRELATION_RESAMPLES = 1000
#: subset labels of rows whose model file names no subset (left out of the per-subset scores)
NO_SUBSET = ("None", "unknown")


def _emi(entry: Mapping[str, Any]) -> float:
    return float(entry["mi_response"]) - float(entry["mi_reference"])


def ensemble_emis(cfg: MIConfig, runs: Runs, ensemble: int, part: str = "splits") -> dict[str, Any]:
    """Mean over the ensemble's members of EMI per split (``part="splits"`` or ``"sanity"``) or per split and
    subset (``part="subsets"``: ``{split: {subset: EMI}}``)."""
    members = [runs[s] for s in cfg.member_seeds(ensemble)]
    if part == "subsets":
        first = members[0]["subsets"]
        return {name: {sub: float(np.mean([_emi(m["subsets"][name][sub]) for m in members])) for sub in parts}
                for name, parts in first.items()}
    return {name: float(np.mean([_emi(m[part][name]) for m in members])) for name in members[0][part]}


def _saturated(entry: Mapping[str, Any]) -> bool:
    c = entry.get("ceiling")
    if c is None:
        return False
    limit = float(c) * (1.0 - SATURATION_TOLERANCE)
    return max(float(entry["mi_response"]), float(entry["mi_reference"])) >= limit


def saturation(runs: Runs, seeds: Sequence[int], part: str = "splits") -> float:
    """Share of (member seed, split[, subset]) whose larger MI sits within 1 % of the ceiling."""
    flags: list[bool] = []
    for s in seeds:
        block = runs[s][part]
        if part == "subsets":
            flags += [_saturated(e) for parts in block.values() for e in parts.values()]
        else:
            flags += [_saturated(e) for e in block.values()]
    return float(np.mean(flags)) if flags else math.nan


def _corr(x: Sequence[float], y: Sequence[float], method: str, seed: int = 0) -> dict[str, float]:
    c = correlate(list(x), list(y), method, n_resamples=CORRELATION_RESAMPLES, seed=seed)  # type: ignore[arg-type]
    return {"r": c.r, "p": c.p_value, "ci_low": c.ci_low, "ci_high": c.ci_high}


def _summary(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    return {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0}


def _ensemble_metric(per_ensemble: list[dict[str, float]]) -> dict[str, Any]:
    """Ensemble 0's correlation with its CI, and mean ± sd of the coefficient over ensembles."""
    return {**per_ensemble[0], "over_ensembles": _summary([c["r"] for c in per_ensemble])}


def _member_time(runs: Runs, seeds: Sequence[int]) -> float:
    return float(np.mean([runs[s]["fit_seconds"] + runs[s]["eval_real_seconds"] for s in seeds]))


def _sanity(cfg: MIConfig, runs: Runs, ensembles: int, real: Mapping[int, Mapping[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    per = [ensemble_emis(cfg, runs, e, "sanity") for e in range(ensembles)]
    for case in SANITY_BELOW:
        below = [p[case] < min(real[e].values()) for e, p in enumerate(per)]
        out[case] = {"emi": _summary([p[case] for p in per])["mean"], "below_all_real": float(np.mean(below))}
    out[SANITY_ZERO] = {"max_abs_emi": float(max(abs(p[SANITY_ZERO]) for p in per))}
    return out


def score_alpaca(cfg: MIConfig, runs: Runs, judge: Mapping[str, Mapping[str, float]], ensembles: int) -> dict[str, Any]:
    """The AlpacaEval scores of one MI configuration (see the module docstring)."""
    models = list(judge)
    lc = [judge[m][JUDGE_SCORES[0]] for m in models]
    wr = [judge[m][JUDGE_SCORES[1]] for m in models]
    emis = {e: ensemble_emis(cfg, runs, e) for e in range(ensembles)}
    subs = {e: ensemble_emis(cfg, runs, e, "subsets") for e in range(ensembles)}
    model_level = {f"{method}_{key}": _ensemble_metric([_corr([emis[e][m] for m in models], target, method)
                                                       for e in range(ensembles)])
                   for method in ("spearman", "kendall") for key, target in (("lc", lc), ("wr", wr))}
    # (model, subset) cells that exist: a model file without the ``dataset`` field has no subsets of its own
    cells = [(i, m, s) for i, m in enumerate(models) for s in sorted(subs[0][m]) if s not in NO_SUBSET]
    subset_names = sorted({s for _, _, s in cells})
    flat_x = {e: [subs[e][m][s] for _, m, s in cells] for e in range(ensembles)}
    pooled = {f"spearman60_{key}": _ensemble_metric([_corr(flat_x[e], [t[i] for i, _, _ in cells], "spearman")
                                                     for e in range(ensembles)]) for key, t in (("lc", lc), ("wr", wr))}
    within = [float(np.mean([_corr([subs[e][m][s] for i, m, t in cells if t == s],
                                   [lc[i] for i, m, t in cells if t == s], "spearman")["r"] for s in subset_names]))
              for e in range(ensembles)]
    seeds = [s for e in range(ensembles) for s in cfg.member_seeds(e)]
    spread = [float(np.std([emis[e][m] for e in range(ensembles)], ddof=1)) for m in models] if ensembles > 1 else []
    return {"models": model_level, "subsets": {**pooled, "within_subset_spearman_lc": {
                "ensemble0": within[0], "over_ensembles": _summary(within)}},
            "emi": {m: emis[0][m] for m in models}, "emi_subsets": subs[0],
            "emi_sd_over_ensembles": _summary(spread)["mean"] if spread else None,
            "saturated": {"models": saturation(runs, seeds), "subsets": saturation(runs, seeds, "subsets")},
            "sanity": _sanity(cfg, runs, ensembles, emis),
            "seconds": _member_time(runs, seeds) * cfg.members}


def bound_values(jsd_run: Mapping[str, Any]) -> dict[str, float | None]:
    """Scale-adjusted bound √J_v + √J_t + J_P^¼ + J_Q^¼ per scenario from a JSD run's terms (J_v absent → 0)."""
    out: dict[str, float | None] = {}
    for name, t in jsd_run["terms"].items():
        if t["id_output"] is None or t["ood_output"] is None:
            out[name] = None
            continue
        v = math.sqrt(t["visual"]) if t["visual"] is not None else 0.0
        out[name] = v + math.sqrt(t["text"]) + t["id_output"] ** 0.25 + t["ood_output"] ** 0.25
    return out


def score_llava(cfg: MIConfig, runs: Runs, id_split: str, scenarios: Mapping[str, Mapping[str, Any]],
                bounds: Mapping[str, Mapping[str, float | None]], ensembles: int) -> dict[str, Any]:
    """The LLaVA-Bench scores of one MI configuration against the bound of each JSD configuration."""
    names = list(scenarios)
    emis = {e: ensemble_emis(cfg, runs, e) for e in range(ensembles)}
    emid = {e: [emis[e][id_split] - emis[e][n] for n in names] for e in range(ensembles)}
    against = {}
    for label, b in bounds.items():
        bv = [b[n] for n in names]
        against[label] = {m: _ensemble_metric([_corr(emid[e], bv, m) for e in range(ensembles)])
                          for m in ("pearson", "spearman")}
    severity: dict[str, float] = {}
    for level in (1, 3, 5):
        pick = [n for n in names if scenarios[n].get("severity") == level]
        severity[str(level)] = float(np.mean([emis[e][n] for e in range(ensembles) for n in pick]))
    signs = np.sign(np.array([emid[e] for e in range(ensembles)]))
    stable = (signs == signs[0]).all(axis=0) & (signs[0] != 0)
    seeds = [s for e in range(ensembles) for s in cfg.member_seeds(e)]
    splits = [id_split, *names]
    spread = [float(np.std([emis[e][n] for e in range(ensembles)], ddof=1)) for n in splits] if ensembles > 1 else []
    return {"bound": against, "emi_by_severity": severity,
            "severity_falls": severity["1"] > severity["3"] > severity["5"],
            "sign_stable_share": float(stable.mean()) if ensembles > 1 else None,
            "sign_unstable": [n for n, ok in zip(names, stable) if not ok] if ensembles > 1 else [],
            "emi_id": emis[0][id_split], "emid": dict(zip(names, emid[0])),
            "emi_sd_over_ensembles": _summary(spread)["mean"] if spread else None,
            "saturated": saturation(runs, seeds), "sanity": _sanity(cfg, runs, ensembles, emis),
            "seconds": _member_time(runs, seeds) * cfg.members}


def k_sweep(cfg: MIConfig, runs: Runs, id_split: str, scenarios: Mapping[str, Mapping[str, Any]],
            bounds: Mapping[str, Mapping[str, float | None]], ensembles: int) -> dict[str, Any]:
    """For ensemble sizes K' ≤ K (1, 2, 3, 5, …): the LLaVA scores of K'-member ensembles built from the same
    member runs (ensemble e = members e·K' … e·K' + K' − 1), so the effect of K on stability is read directly."""
    from dataclasses import replace

    out = {}
    for k in sorted({1, 2, 3, 5, cfg.members}):
        if k > cfg.members:
            continue
        sub = replace(cfg, members=k)
        r = score_llava(sub, runs, id_split, scenarios, bounds, ensembles)
        out[str(k)] = {"sign_stable_share": r["sign_stable_share"], "emi_sd_over_ensembles": r["emi_sd_over_ensembles"],
                       "bound": {j: v["pearson"]["over_ensembles"]["mean"] for j, v in r["bound"].items()}}
    return out


def score_jsd(cfg: JSDConfig, runs: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Time and the spread over seeds of each scenario's bound (0 for a deterministic estimator)."""
    values = [bound_values(runs[s]) for s in sorted(runs)]
    names = [n for n, v in values[0].items() if v is not None]
    spread = [float(np.std([v[n] for v in values], ddof=1)) for n in names] if len(values) > 1 else [0.0]
    return {"seconds": float(np.mean([runs[s]["seconds"] for s in runs])), "bound_sd_over_seeds": float(np.mean(spread)),
            "bound": values[0]}
