"""Across-scenario statistics: correlations with p-values and bootstrap CIs, and scenario groups.

Given one value per scenario (EMID and its upper bound, or EMI and a judge's
win rate), :func:`correlate` returns Pearson's r, Spearman's ρ and Kendall's τ
(τ-b) with their two-sided p-values from :mod:`scipy.stats`, and a percentile
bootstrap confidence interval obtained by resampling *scenarios* with
replacement::

    r*_b = r(x[I_b], y[I_b]),  I_b ~ Uniform{0..n-1}^n,  b = 1..B
    CI = [quantile(r*, α/2), quantile(r*, 1 − α/2)]

Resamples in which either variable is constant (the coefficient is undefined)
are dropped; the number kept is reported.

Scenarios are grouped by what they shift (:func:`mllmshift.vocab.group_of`):
``visual`` (the image only), ``text`` (the question only) or ``joint`` (both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from mllmshift.provenance import derive_seed
from mllmshift.vocab import GROUPS, group_of

__all__ = ["Correlation", "METHODS", "GROUPS", "correlate", "correlate_all", "correlations_by_group", "group_of"]

Method = Literal["pearson", "spearman", "kendall"]
METHODS: tuple[Method, ...] = ("pearson", "spearman", "kendall")


@dataclass(frozen=True)
class Correlation:
    """One correlation coefficient across scenarios.

    ``r`` and ``p_value`` are NaN when fewer than three scenarios have both
    values or one variable is constant; ``ci_low``/``ci_high`` are NaN when no
    bootstrap resample gave a defined coefficient.
    """

    method: str
    r: float
    p_value: float
    n: int
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    n_resamples_used: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_float(v) for k, v in asdict(self).items()}


def _json_float(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _coefficient(method: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    if method == "pearson":
        res = stats.pearsonr(x, y)
    elif method == "spearman":
        res = stats.spearmanr(x, y)
    elif method == "kendall":
        res = stats.kendalltau(x, y)
    else:
        raise ValueError(f"unknown correlation method '{method}'; choose from {METHODS}")
    return float(res.statistic), float(res.pvalue)


def _bootstrap_coefficients(method: str, xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """The coefficient of each row pair of the (B × n) resampled arrays; NaN where a row is constant.

    Pearson and Spearman (Pearson of average ranks) are vectorised; Kendall's τ-b from the pairs' signs
    (:func:`_kendall_tau_b_rows`).
    """
    if method == "kendall":
        return _kendall_tau_b_rows(xb, yb)
    if method == "spearman":
        from scipy.stats import rankdata

        xb, yb = rankdata(xb, axis=1), rankdata(yb, axis=1)
    elif method != "pearson":
        raise ValueError(f"unknown correlation method '{method}'; choose from {METHODS}")
    dx = xb - xb.mean(axis=1, keepdims=True)
    dy = yb - yb.mean(axis=1, keepdims=True)
    den = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dx * dy).sum(axis=1) / den
    r[(np.ptp(xb, axis=1) == 0) | (np.ptp(yb, axis=1) == 0)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _kendall_tau_b_rows(xb: np.ndarray, yb: np.ndarray, chunk: int = 64) -> np.ndarray:
    r"""Kendall's τ-b of each row pair: with :math:`s^x_{ij} = \operatorname{sign}(x_i - x_j)` over the pairs
    i < j, :math:`\tau_b = \sum s^x s^y / \sqrt{\sum |s^x| \sum |s^y|}` (the non-tied pairs of each variable in
    the denominator: scipy's ``kendalltau`` value), NaN where a row is constant. O(n²) per row in numpy, rows
    in chunks: scipy row by row took 2–6 s of a study's report for 1,000 resamples of 61 scenarios."""
    n = xb.shape[1]
    iu, ju = np.triu_indices(n, k=1)
    out = np.empty(xb.shape[0])
    for start in range(0, xb.shape[0], chunk):
        x, y = xb[start : start + chunk], yb[start : start + chunk]
        sx, sy = np.sign(x[:, iu] - x[:, ju]), np.sign(y[:, iu] - y[:, ju])
        den = np.sqrt(np.abs(sx).sum(axis=1) * np.abs(sy).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + chunk] = np.where(den > 0, (sx * sy).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(out, -1.0, 1.0)


def _paired_finite(x: Sequence[float | None], y: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    xa = np.array([math.nan if v is None else float(v) for v in x], dtype=np.float64)
    ya = np.array([math.nan if v is None else float(v) for v in y], dtype=np.float64)
    keep = np.isfinite(xa) & np.isfinite(ya)
    return xa[keep], ya[keep]


def correlate(x: Sequence[float | None], y: Sequence[float | None], method: Method = "pearson", *,
              n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> Correlation:
    """Correlation of ``x`` with ``y`` (pairs with a missing value dropped), p-value and bootstrap CI."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    xa, ya = _paired_finite(x, y)
    n = len(xa)
    r, p = _coefficient(method, xa, ya)
    lo = hi = math.nan
    used = 0
    if n >= 3 and n_resamples > 0 and math.isfinite(r):
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_resamples, n))
        boots = _bootstrap_coefficients(method, xa[idx], ya[idx])
        boots = boots[np.isfinite(boots)]
        used = len(boots)
        if used:
            alpha = 1.0 - confidence
            lo, hi = (float(v) for v in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    return Correlation(method, r, p, n, lo, hi, confidence, int(n_resamples), used, int(seed))


def correlate_all(x: Sequence[float | None], y: Sequence[float | None], *, n_resamples: int = 1000, seed: int = 0,
                  confidence: float = 0.95) -> dict[str, Correlation]:
    """Pearson, Spearman and Kendall (same resampled scenario sets for each: one seed)."""
    return {m: correlate(x, y, m, n_resamples=n_resamples, seed=seed, confidence=confidence) for m in METHODS}


def correlations_by_group(rows: Sequence[Mapping[str, Any]], x_key: str, y_key: str, *, n_resamples: int = 1000,
                          seed: int = 0, confidence: float = 0.95) -> dict[str, dict[str, Any]]:
    """``correlate_all`` over all rows and within each group; rows are flat mappings with a ``group`` key.

    Returns ``{"all": {"n": .., "pearson": {...}, ...}, "visual": {...}, ...}``; groups without rows are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for group in ("all", *GROUPS):
        sel = [r for r in rows if group == "all" or r.get("group") == group]
        if not sel:
            continue
        cors = correlate_all([r.get(x_key) for r in sel], [r.get(y_key) for r in sel], n_resamples=n_resamples,
                             seed=derive_seed(seed, "correlation", x_key, y_key, group), confidence=confidence)
        entry: dict[str, Any] = {"n": next(iter(cors.values())).n}
        entry.update({m: c.to_dict() for m, c in cors.items()})
        out[group] = entry
    return out


def correlation_tables(rows: Sequence[Mapping[str, Any]], judge_columns: Sequence[str], n_resamples: int, seed: int,
                       confidence: float) -> dict[str, Any]:
    """The correlations a study reports, from its flat scenario rows: EMID vs bound (all scenarios and per
    group; per kind as well when kinds are mixed) and EMI vs each judge score column."""
    cor: dict[str, Any] = {"emid_vs_bound": correlations_by_group(rows, "emid", "bound", n_resamples=n_resamples,
                                                                  seed=seed, confidence=confidence)}
    kinds = sorted({r["kind"] for r in rows if r.get("kind")})
    if len(kinds) > 1:  # e.g. the paper's synthetic and natural sets, each with its groups
        cor["emid_vs_bound_by_kind"] = {k: correlations_by_group(
            [r for r in rows if r.get("kind") == k], "emid", "bound", n_resamples=n_resamples,
            seed=derive_seed(seed, "kind", k), confidence=confidence) for k in kinds}
    if judge_columns:
        cor["emi_vs_judge"] = {k: correlations_by_group(rows, "emi", k, n_resamples=n_resamples, seed=seed,
                                                        confidence=confidence) for k in sorted(judge_columns)}
    return cor
