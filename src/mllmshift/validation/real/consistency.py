"""Scores of what a user meets across calls (issue #19 items 3 and 6): consistency, coverage, small-n noise, and
the severity monotonicity of a shift benchmark.

- **Consistency** (:func:`score_calls`): the same splits' EMIs from estimators fitted on two disjoint fitting
  pools (``A`` and ``B``, :mod:`.pools`), same member seeds: Spearman ρ over the splits and the mean |ΔEMI|
  relative to the sd of the EMIs over splits (scale-free: 0 = the pool changes nothing, 1 = as much as the
  difference between models).
- **Coverage** (:func:`score_calls`): call 0 is ensemble 0 fitted on pool A, its 95 % interval the percentile
  interval of B bootstrap resamples of the estimation rows, replicate b from member b mod K (the estimator
  fixed). The other calls a user could make for the same split are the other ensembles (other seeds) on pool A
  and ensemble 0 on pool B (another fitting set); coverage is the share of (split, other call) whose EMI lies in
  call 0's interval.
- **Small-n noise** (:func:`score_small_n`): fits on one 90-sample split at a time; the mean over splits of the
  sd of EMI over ensembles, divided by the sd over splits of the ensemble-mean EMI.
- **Monotonicity** (:func:`monotonicity`): the share of ordered scenario pairs whose EMI falls as the severity of
  one shift factor rises, everything else equal.
- **Above ln n** (:func:`above_ln_n`, gate g3 of the amended rule): the share of splits whose ensemble-0 estimate
  of Î(X;Ŷ) or Î(X;Y) exceeds ln n, n the pairs it is estimated on. No estimate from n pairs can support more
  than ln n nats (the n × n table of pairs carries at most that much), so such a value is a fitting artefact.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mllmshift.validation.real.configs import MIConfig
from mllmshift.validation.real.score import Runs, ensemble_emis

#: the shift factors of a scenario's metadata: (family key, level key); a factor absent from a split is level 0
FACTORS = (("visual", "severity"), ("text", "level"))
COVERAGE_LEVEL = 0.95


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def ordered_pairs(scenarios: Mapping[str, Mapping[str, Any]], id_split: str) -> list[tuple[str, str]]:
    """``(milder, more severe)`` pairs of splits that differ in one shift factor only: the same family at two
    levels, or the factor absent (level 0) in the milder one. The ID split has every factor absent."""
    state: dict[str, dict[str, tuple[str | None, float]]] = {id_split: {f: (None, 0.0) for f, _ in FACTORS}}
    for name, meta in scenarios.items():
        state[name] = {f: (meta[f], float(meta[lvl])) if meta.get(f) is not None else (None, 0.0)
                       for f, lvl in FACTORS}
    pairs = []
    for a, b in itertools.permutations(state, 2):
        diff = [f for f, _ in FACTORS if state[a][f] != state[b][f]]
        if len(diff) != 1:
            continue
        (fa, la), (fb, lb) = state[a][diff[0]], state[b][diff[0]]
        if la < lb and (fa is None or fa == fb):
            pairs.append((a, b))
    return pairs


def monotonicity(emis: Mapping[str, float], pairs: Sequence[tuple[str, str]]) -> float:
    """Share of ``pairs`` (milder, more severe) whose EMI is strictly lower on the more severe split."""
    return float(np.mean([emis[a] > emis[b] for a, b in pairs])) if pairs else math.nan


def ensemble_interval(cfg: MIConfig, runs: Runs, ensemble: int, split: str,
                      level: float = COVERAGE_LEVEL) -> tuple[float, float] | None:
    """The percentile interval of ``split``'s EMI from its members' bootstrap replicates (replicate b from member
    b mod K); None when the runs carry no replicates."""
    members = [runs[s].get("bootstrap_emi") for s in cfg.member_seeds(ensemble)]
    if any(m is None or split not in m for m in members):
        return None
    reps = [members[b % len(members)][split][b] for b in range(len(members[0][split]))]  # type: ignore[index]
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def score_calls(cfg: MIConfig, runs_a: Runs, runs_b: Runs, ensembles: int) -> dict[str, Any]:
    """Consistency between fitting pools and coverage of call 0's interval (module docstring)."""
    a0 = ensemble_emis(cfg, runs_a, 0)
    names = list(a0)
    out: dict[str, Any] = {}
    if all(s in runs_b for s in cfg.member_seeds(0)):
        b0 = ensemble_emis(cfg, runs_b, 0)
        va, vb = [a0[n] for n in names], [b0[n] for n in names]
        spread = float(np.std(va, ddof=1))
        out["consistency"] = {"spearman": _spearman(va, vb),
                              "mean_abs_diff": float(np.mean(np.abs(np.subtract(va, vb)))),
                              "relative_diff": float(np.mean(np.abs(np.subtract(va, vb)))) / spread if spread else None}
        others = {"pool B": b0}
    else:
        others = {}
    others.update({f"ensemble {e}": ensemble_emis(cfg, runs_a, e) for e in range(1, ensembles)})
    intervals = {n: ensemble_interval(cfg, runs_a, 0, n) for n in names}
    if others and all(v is not None for v in intervals.values()):
        hits = {k: [intervals[n][0] <= o[n] <= intervals[n][1] for n in names]  # type: ignore[index]
                for k, o in others.items()}
        out["coverage"] = {"share": float(np.mean([h for v in hits.values() for h in v])),
                           "by_call": {k: float(np.mean(v)) for k, v in hits.items()},
                           "mean_width": float(np.mean([hi - lo for lo, hi in intervals.values()])),  # type: ignore[misc]
                           "calls": len(others)}
    return out


def above_ln_n(cfg: MIConfig, runs: Runs, ensemble: int = 0) -> dict[str, Any]:
    """Share of the splits of ``runs`` whose ensemble-``ensemble`` estimate (mean over its members) of Î(X;Ŷ) or
    Î(X;Y) exceeds ln n (module docstring); ``max_excess`` is the largest max(Î) − ln n in nats."""
    members = [runs[s]["splits"] for s in cfg.member_seeds(ensemble)]
    excess = []
    for name, entry in members[0].items():
        mi = max(float(np.mean([m[name][k] for m in members])) for k in ("mi_response", "mi_reference"))
        excess.append(mi - math.log(int(entry["n"])))
    return {"share": float(np.mean([e > 0 for e in excess])), "units": len(excess),
            "max_excess": float(max(excess))}


def score_small_n(cfg: MIConfig, runs: Runs, ensembles: int) -> dict[str, Any]:
    """Seed noise of per-split fits relative to the spread of EMI over splits (module docstring)."""
    per = [ensemble_emis(cfg, runs, e) for e in range(ensembles)]
    names = list(per[0])
    mean = [float(np.mean([p[n] for p in per])) for n in names]
    between = float(np.std(mean, ddof=1))
    within = float(np.mean([np.std([p[n] for p in per], ddof=1) for n in names])) if ensembles > 1 else math.nan
    ceil = [e.get("ceiling") for r in runs.values() for e in r["splits"].values()]
    return {"noise_to_signal": within / between if between > 0 and ensembles > 1 else math.nan,
            "seed_sd": within, "between_split_sd": between, "ensembles": ensembles,
            "emi_id": mean[0], "mi_response_id": float(np.mean([runs[s]["splits"][names[0]]["mi_response"]
                                                                for s in runs])),
            "ceiling": next((c for c in ceil if c is not None), None), "above_ln_n": above_ln_n(cfg, runs),
            "seconds_per_split": float(np.mean([r["seconds"] for r in runs.values()])) / len(names) * cfg.members}
