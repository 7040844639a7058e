"""The decision rule that picks the default MI configuration from the real-data table (docs/estimators.md, "The
decision rule for the defaults"; issue #19 item 6), applied mechanically so that it reads the same on any table.

1. Gates, on the judged set: at most :data:`MAX_SATURATED` of the model-level MIs at the ceiling, and the
   constant, empty and shuffled sanity models below every real model (ensemble 0).
2. Primary: Spearman ρ of EMI with the judge; ρ* the best point estimate among the gated; out when the bootstrap
   CI's upper end is below ρ*.
3. Secondary, among the survivors: ranks (1 = best, ties at 2 decimals share their mean rank) of severity
   monotonicity (higher), small-n noise-to-signal (lower) and cross-call consistency (higher); the lowest rank sum
   wins (the small-n default counts the small-n rank twice).
4. Tie-break: among the survivors within 1 of the lowest rank sum, the paper's configuration when present, else the
   lowest time, then the smallest K.

A survivor missing a secondary score makes the decision ``incomplete``: no default is picked on partial evidence.

The **amendment of 2026-12-07** (docs/estimators.md, written after the partial table was seen) adds gate g3: a
candidate is out when its ensemble-0 Î(X;Ŷ) or Î(X;Y) exceeds ln n on more than :data:`MAX_ABOVE_LN_N` of the
judged set's models (both passes) or, in the small-n pass, of the n = 90 per-split fits. :func:`verdicts` gives
the original rule's decision and the amended one's; the package's default follows the amended one (:data:`FOLLOWED`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: the judged set and the shift benchmark the rule reads (keys of a table row)
JUDGED = "alpacaeval48"
SHIFT = "llava"
#: the paper's configuration (``--paper``'s member, K = 1): preferred on a tie
PAPER = "club"
MAX_SATURATED = 0.10
SANITY_CASES = ("sanity:constant", "sanity:empty", "sanity:shuffled")
#: (name, where in a row, higher is better)
SECONDARY = (("monotonicity", (SHIFT, "monotonicity", "share"), True),
             ("small_n_noise", (SHIFT, "small_n", "noise_to_signal"), False),
             ("consistency", (JUDGED, "calls", "consistency", "spearman"), True))
TIE_WINDOW = 1.0
#: gate g3 (the amendment): the largest share of units whose estimate may exceed ln n, and where each pass reads it
MAX_ABOVE_LN_N = 0.10
ABOVE_LN_N = {"judged set": (JUDGED, "above_ln_n", "share"), "n = 90 fits": (SHIFT, "small_n", "above_ln_n", "share")}
#: the verdict the package's default follows
FOLLOWED = "amended"


def _get(row: Mapping[str, Any], path: Sequence[str]) -> Any:
    cur: Any = row
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur:
            return None
        cur = cur[key]
    return cur


def _ranks(values: Mapping[str, float], higher_better: bool) -> dict[str, float]:
    """Rank 1 = best; values equal at 2 decimals share their mean rank."""
    keyed = {k: round(v if higher_better else -v, 2) for k, v in values.items()}
    order = sorted(keyed, key=lambda k: -keyed[k])
    out: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and keyed[order[j + 1]] == keyed[order[i]]:
            j += 1
        for k in order[i : j + 1]:
            out[k] = (i + j) / 2 + 1
        i = j + 1
    return out


def _g3_units(small_n: bool) -> list[str]:
    return ["judged set", "n = 90 fits"] if small_n else ["judged set"]


def g3_missing(row: Mapping[str, Any], small_n: bool = False) -> list[str]:
    """The units whose above-ln n share gate g3 needs and ``row`` lacks (the small-n pass also reads the n = 90 fits)."""
    return [u for u in _g3_units(small_n) if not isinstance(_get(row, ABOVE_LN_N[u]), (int, float))]


def gates(row: Mapping[str, Any], amended: bool = False, small_n: bool = False) -> list[str]:
    """Why ``row`` fails the gates (empty: it passes); ``amended`` adds g3 (the small-n pass also on the n = 90
    fits). A g3 share that is not measured fails nothing here: :func:`decide` reports it as missing."""
    judged = row.get(JUDGED)
    if not judged:
        return ["not run on the judged set"]
    why = []
    sat = _get(judged, ("saturated", "models"))
    if sat is not None and sat > MAX_SATURATED:
        why.append(f"{sat:.0%} of MIs at the ceiling")
    below = judged.get("sanity_ensemble0", {})
    bad = [c.split(":")[1] for c in SANITY_CASES if below.get(c) is False]
    if bad:
        why.append(f"sanity model(s) {', '.join(bad)} above a real model")
    if amended:
        for unit in _g3_units(small_n):
            share = _get(row, ABOVE_LN_N[unit])
            if isinstance(share, (int, float)) and share > MAX_ABOVE_LN_N:
                why.append(f"g3: {share:.0%} of the {unit} above ln n")
    return why


def decide(rows: Mapping[str, Mapping[str, Any]], small_n_weight: float = 1.0,
           required: Sequence[str] = (), amended: bool = False) -> dict[str, Any]:
    """Apply the rule to the table's MI rows (label → row); ``small_n_weight`` 2 gives the small-n default,
    ``amended`` adds gate g3. A ``required`` candidate absent from the judged set makes the decision incomplete
    (its choice moves to ``provisional``): a default is never picked from part of the candidates."""
    out = _decide(rows, small_n_weight, amended)
    not_run = [k for k in required if not (rows.get(k) or {}).get(JUDGED)]
    if not_run:
        out["not_run"] = not_run
        out["provisional"], out["choice"] = out.get("choice"), None
        out["status"] = "incomplete"
    return out


def _decide(rows: Mapping[str, Mapping[str, Any]], small_n_weight: float, amended: bool) -> dict[str, Any]:
    ran = {k: r for k, r in rows.items() if r.get(JUDGED)}  # the others are reported as not run (decide)
    reasons = {k: gates(r, amended, small_n_weight > 1.0) for k, r in ran.items()}
    gated = {k: r for k, r in ran.items() if not reasons[k]}
    out: dict[str, Any] = {"gated_out": {k: v for k, v in reasons.items() if v}, "choice": None}
    unmeasured = {k: [f"g3 ({u})" for u in g3_missing(r, small_n_weight > 1.0)] for k, r in gated.items()} \
        if amended else {}
    unmeasured = {k: v for k, v in unmeasured.items() if v}
    rho = {k: _get(r, (JUDGED, "models", "spearman_lc")) for k, r in gated.items()}
    rho = {k: v for k, v in rho.items() if v and v.get("r") is not None and math.isfinite(v["r"])}
    if not rho:
        out["status"] = "no candidate passes the gates"
        return out
    best = max(rho, key=lambda k: rho[k]["r"])
    out["rho_star"] = {"config": best, "r": rho[best]["r"]}
    survivors = [k for k in rho if rho[k]["ci_high"] >= rho[best]["r"]]
    out["eliminated_step1"] = sorted(set(rho) - set(survivors))
    out["survivors"] = survivors
    scores = {name: {k: _get(rows[k], path) for k in survivors} for name, path, _ in SECONDARY}
    missing = {k: [n for n in scores if scores[n][k] is None or not math.isfinite(scores[n][k])] for k in survivors}
    missing = {k: v for k, v in missing.items() if v}
    for k, v in unmeasured.items():  # g3 not measured on a survivor (ρ*'s included): it could remove it
        if k in survivors:
            missing[k] = [*v, *missing.get(k, [])]
    out["secondary"] = scores
    if missing:
        out["status"] = "incomplete"
        out["missing"] = missing
        return out
    ranks = {name: _ranks(scores[name], hib) for name, _, hib in SECONDARY}
    weight = {"small_n_noise": small_n_weight}
    total = {k: sum(weight.get(n, 1.0) * ranks[n][k] for n in ranks) for k in survivors}
    low = min(total.values())
    window = [k for k in survivors if total[k] <= low + TIE_WINDOW]
    if PAPER in window:
        choice, why = PAPER, "the paper's configuration is within the tie window"
    else:
        def cost(k: str) -> tuple[float, int]:
            return (float(_get(rows[k], (JUDGED, "seconds")) or math.inf), int(_get(rows[k], ("config", "members")) or 1))
        choice = min(window, key=cost)
        why = "lowest time in the tie window" if len(window) > 1 else "lowest rank sum"
    out.update({"status": "decided", "ranks": ranks, "rank_sum": total, "tie_window": window, "choice": choice,
                "why": why})
    return out


def decide_both(rows: Mapping[str, Mapping[str, Any]], required: Sequence[str] = (),
                amended: bool = False) -> dict[str, Any]:
    """The large-n and the small-n decisions, and whether they agree."""
    large = decide(rows, required=required, amended=amended)
    small = decide(rows, small_n_weight=2.0, required=required, amended=amended)
    return {"large_n": large, "small_n": small,
            "agree": large.get("choice") is not None and large.get("choice") == small.get("choice")}


def verdicts(rows: Mapping[str, Mapping[str, Any]], required: Sequence[str] = ()) -> dict[str, Any]:
    """Both verdicts, the original rule's and the amended one's (:func:`decide_both` each), and which one the
    package's default follows."""
    return {"original": decide_both(rows, required), "amended": decide_both(rows, required, amended=True),
            "followed": FOLLOWED}
