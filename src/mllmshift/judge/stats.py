"""Judge statistics: relative score and win rate, with paired bootstrap CIs.

For items ``i = 1..n`` scored by the judge, with model score ``m_i`` and
reference score ``r_i``:

- relative score ``RS = 100 · mean(m) / mean(r)`` (LLaVA-Bench's headline number);
- win rate ``WR = mean(w)``, ``w_i = 1[m_i > r_i] + ½·1[m_i = r_i]`` (ties count half).

CIs resample items with replacement (``B`` resamples, the same index draws for
both statistics, so ``m`` and ``r`` stay paired) and take the
``(1-c)/2`` and ``(1+c)/2`` percentiles (numpy's linear interpolation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def relative_score(model: np.ndarray, reference: np.ndarray) -> float:
    """``100 · mean(model) / mean(reference)``."""
    m, r = np.asarray(model, dtype=float), np.asarray(reference, dtype=float)
    if m.shape != r.shape or m.ndim != 1 or m.size == 0:
        raise ValueError("model and reference scores must be equal-length non-empty 1-d arrays")
    return float(100.0 * m.mean() / r.mean())


def wins(model: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-item win: 1 if the model scored higher, ½ on a tie, 0 otherwise."""
    m, r = np.asarray(model, dtype=float), np.asarray(reference, dtype=float)
    return (m > r).astype(float) + 0.5 * (m == r)


def win_rate(model: np.ndarray, reference: np.ndarray) -> float:
    """Mean of :func:`wins`."""
    w = wins(model, reference)
    if w.size == 0:
        raise ValueError("no scored items")
    return float(w.mean())


@dataclass(frozen=True)
class JudgeStats:
    """Point estimates and percentile-bootstrap CIs over ``n`` scored items."""

    n: int
    mean_model: float
    mean_reference: float
    relative_score: float
    relative_score_ci: tuple[float, float]
    win_rate: float
    win_rate_ci: tuple[float, float]
    n_resamples: int
    seed: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean_model": self.mean_model, "mean_reference": self.mean_reference,
                "relative_score": self.relative_score, "relative_score_ci": list(self.relative_score_ci),
                "win_rate": self.win_rate, "win_rate_ci": list(self.win_rate_ci),
                "bootstrap": {"n_resamples": self.n_resamples, "seed": self.seed, "confidence": self.confidence}}


def judge_stats(model: np.ndarray, reference: np.ndarray, *, n_resamples: int = 1000, seed: int = 0,
                confidence: float = 0.95) -> JudgeStats:
    """Relative score and win rate with paired percentile-bootstrap CIs (see the module docstring)."""
    m, r = np.asarray(model, dtype=float), np.asarray(reference, dtype=float)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rs, wr = relative_score(m, r), win_rate(m, r)
    n = m.size
    if n_resamples > 0:
        idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
        rs_b = 100.0 * m[idx].mean(axis=1) / r[idx].mean(axis=1)
        wr_b = wins(m, r)[idx].mean(axis=1)
        q = [(1 - confidence) / 2, (1 + confidence) / 2]
        rs_ci = tuple(float(v) for v in np.quantile(rs_b, q))
        wr_ci = tuple(float(v) for v in np.quantile(wr_b, q))
    else:
        rs_ci = (float("nan"), float("nan"))
        wr_ci = (float("nan"), float("nan"))
    return JudgeStats(n, float(m.mean()), float(r.mean()), rs, rs_ci, wr, wr_ci,  # type: ignore[arg-type]
                      n_resamples, seed, confidence)


def position_bias(model_second: np.ndarray, ref_first: np.ndarray, model_first: np.ndarray,
                  ref_second: np.ndarray) -> dict[str, float]:
    """How much the judge favours the second position, from both orders of the same items.

    With ``d = s(Assistant 2) - s(Assistant 1)`` in each order, an order-blind judge has
    ``d_normal = m - r`` and ``d_swapped = r' - m'`` summing to 0 on average; ``bias = mean((d_n + d_s)/2)``
    in score points (> 0 favours the second answer). ``consistency`` is the share of items whose verdict
    (model better, worse or tied) is the same in both orders.
    """
    d_n = np.asarray(model_second, float) - np.asarray(ref_first, float)
    d_s = np.asarray(ref_second, float) - np.asarray(model_first, float)
    if d_n.size == 0:
        raise ValueError("no items scored in both orders")
    return {"n": int(d_n.size), "bias": float(np.mean((d_n + d_s) / 2)),
            "consistency": float(np.mean(np.sign(d_n) == np.sign(-d_s)))}
