"""The headline numbers of a study and its flat CSV table, computed from the scenario rows.

:func:`summarise` gives the numbers printed at the end of a run and shown first in the report: the ID EMI,
the ID EMI's flags, counts of complete, partial and sign-unstable
scenarios, of MIs above ln n and of scenarios whose EMID exceeds its bound (each form), mean EMI / EMID / bound (over all and per group),
the correlation of EMID with its bound, the hardest and easiest scenario and the mean EMI per visual
severity. :func:`csv_text` renders the rows (``StudyResult.rows()``) as ``scenarios.csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mllmshift.vocab import GROUPS


def _mean(vals: Sequence[float | None]) -> float | None:
    v = [x for x in vals if x is not None]
    return float(np.mean(v)) if v else None


def summarise(id_emi: float | None, rows: Sequence[Mapping[str, Any]],
              correlations: Mapping[str, Any], id_flags: Sequence[str] = ()) -> dict[str, Any]:
    """The headline numbers (see the module docstring) from the flat scenario rows; ``id_flags``: the ID EMI's
    flags (:attr:`~mllmshift.metrics.EMIResult.flags`)."""
    complete = [r for r in rows if not r["partial"]]
    unstable = [r["scenario"] for r in complete if r.get("sign_stable") is False]
    violated = [r["scenario"] for r in complete if r.get("bound_holds") is False]
    violated_theorem = [r["scenario"] for r in complete if r.get("bound_theorem_holds") is False]
    above = [r["scenario"] for r in rows if r.get("mi_above_limit")]
    out: dict[str, Any] = {
        "id_emi": id_emi, "id_flags": list(id_flags),
        "n_mi_above_limit": len(above) + bool(any("above ln" in f for f in id_flags)), "mi_above_limit": above,
        "n_bound_checked": sum(r.get("bound_holds") is not None for r in complete),
        "n_bound_violated": len(violated), "bound_violated": violated,
        "n_bound_theorem_violated": len(violated_theorem), "bound_theorem_violated": violated_theorem,
        "n_scenarios": len(rows), "n_complete": len(complete), "n_partial": len(rows) - len(complete),
        "n_sign_unstable": len(unstable), "sign_unstable": unstable,
        "mean_emi": _mean([r["emi"] for r in complete]), "mean_emid": _mean([r["emid"] for r in complete]),
        "mean_bound": _mean([r["bound"] for r in complete]),
        "per_group": {g: {"n": sum(r["group"] == g for r in complete),
                          "mean_emi": _mean([r["emi"] for r in complete if r["group"] == g]),
                          "mean_emid": _mean([r["emid"] for r in complete if r["group"] == g])}
                      for g in GROUPS if any(r["group"] == g for r in rows)},
    }
    allc = (correlations.get("emid_vs_bound") or {}).get("all", {})
    out["emid_bound_pearson"] = (allc.get("pearson") or {}).get("r")
    out["emid_bound_pearson_p"] = (allc.get("pearson") or {}).get("p_value")
    out["emid_bound_spearman"] = (allc.get("spearman") or {}).get("r")
    out["emid_bound_kendall"] = (allc.get("kendall") or {}).get("r")
    ranked = sorted(complete, key=lambda r: r["emi"])
    if ranked:
        out["worst_scenario"] = {"name": ranked[0]["scenario"], "emi": ranked[0]["emi"], "emid": ranked[0]["emid"]}
        out["best_scenario"] = {"name": ranked[-1]["scenario"], "emi": ranked[-1]["emi"], "emid": ranked[-1]["emid"]}
    sev: dict[int, list[float]] = {}
    for r in complete:
        if r.get("severity") is not None and r.get("group") == "visual":
            sev.setdefault(int(r["severity"]), []).append(r["emi"])
    if sev:
        out["mean_emi_by_visual_severity"] = {str(k): float(np.mean(v)) for k, v in sorted(sev.items())}
    return out


def csv_text(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """``fields`` then any other keys (sorted) as CSV; floats with 6 significant digits, None as empty."""
    extra = sorted({k for r in rows for k in r} - set(fields))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*fields, *extra], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]))
                    for k in w.fieldnames})
    return buf.getvalue()
