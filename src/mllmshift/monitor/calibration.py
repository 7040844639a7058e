r"""False alarms as users look at them: permutation p-values, one decision per window, an expected run time.

**p-values.** A window's estimate x of a term is compared with the N same-size no-shift draws of that term
(:mod:`mllmshift.monitor.null`) by the permutation p-value

.. math:: p = \frac{1 + \#\{j : x^*_j \ge x\}}{1 + N},

the observed statistic counted among the draws. Under no shift x and the draws are exchangeable, so
P(p ≤ a) ≤ a for every a (exactly ⌊a(N + 1)⌋/(N + 1)); the k/N form that leaves x out is anti-conservative
(its smallest value is 0, and P(k/N ≤ a) exceeds a). The smallest reachable p is 1/(N + 1), so a level a
needs N ≥ 1/a − 1 draws (:func:`min_null_draws`).

**One decision per window.** A window is *over* when some watched term's p-value is at most the per-term level
a_T = 1 − (1 − q)^{1/T} (Šidák's split of the per-window level q over the T watched terms). Under no shift
P(window over) = P(min_t p_t ≤ a_T) ≤ 1 − (1 − a_T)^T = q when the terms are independent, and ≤ q also under
the positive dependence the terms have (the same window's questions and answers move together: Šidák's
inequality for positively orthant-dependent statistics); Bonferroni's a/T is the always-valid but slightly
smaller split. A joint null of the max of standardised terms would be exact, but the terms are drawn from
different pools of the reference (all records for the drift terms, the labelled ones or the calibration half
for ``output_shift`` / ``emid``), so their joint no-shift law is not drawn; the split needs only each term's
own null.

**Expected run time.** The alert fires when k consecutive windows are over. If no-shift windows are over
independently with probability q (tumbling windows of a stationary stream), the expected number of windows
until the first run of k is

.. math:: \mathrm{ERT}(q, k) = \frac{1 - q^k}{(1 - q)\,q^k}

(1/q for k = 1; the waiting time for k successes in a row). ``--ert N`` states the run time wanted; the
per-window level is the q that solves ERT(q, k) = N (:func:`window_level`), so the alert rate is stated in
what users watch, windows between false alarms, over all terms and the k-rule together. Sliding windows
(step < window) share records, so their decisions are positively correlated: runs of k > 1 come more easily
than independence says (the stated ERT is then optimistic) and isolated ones less (k = 1: pessimistic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def p_value(null: Sequence[float] | np.ndarray, observed: float) -> float:
    """(1 + #{null ≥ observed}) / (1 + N) (see the module docstring); 1.0 for a NaN observation."""
    values = np.asarray(null, dtype=np.float64)
    if not math.isfinite(observed):
        return 1.0
    return float((1 + int(np.count_nonzero(values >= observed))) / (1 + len(values)))


def expected_run_length(q: float, k: int) -> float:
    """ERT(q, k) = (1 − q^k) / ((1 − q) q^k): expected windows until k consecutive independent
    Bernoulli(q) successes."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    return (1.0 - q ** k) / ((1.0 - q) * q ** k)


def window_level(ert: float, k: int) -> float:
    """The per-window level q with ERT(q, k) = ``ert`` (bisection; ERT falls as q grows)."""
    if not ert > 1.0:
        raise ValueError(f"an expected run time must exceed 1 window, got {ert}")
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if expected_run_length(mid, k) > ert:
            lo = mid
        else:
            hi = mid
    return lo


def term_level(q: float, n_terms: int) -> float:
    """Šidák's per-term level 1 − (1 − q)^{1/T} for a per-window level q over T terms."""
    if n_terms <= 1:
        return q
    return float(-math.expm1(math.log1p(-q) / n_terms))


def min_null_draws(level: float) -> int:
    """The fewest null draws N for which a p-value can reach ``level``: 1/(N + 1) ≤ level."""
    return max(1, math.ceil(1.0 / level - 1.0 - 1e-9))
