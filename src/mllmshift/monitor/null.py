r"""No-shift (null) distributions of the drift terms, drawn from the reference window at the window's size.

JSD estimates are biased upwards, the more so the smaller the samples, so a fixed threshold would
alarm on small windows and sleep on large ones. Each term is therefore compared with what it gives
when there is no shift at all, at the same sizes: draw j splits R at random into the same shapes
a window sees (see :mod:`mllmshift.monitor.terms`):

- ``visual``/``text``/``answer`` at n records: JSD(R∖W*_j ‖ W*_j) with W*_j a random n-subset of R;
- ``output_shift`` at m: output(W*_j) − output(B*_j), W*_j and B*_j disjoint m-subsets of R's labelled records;
- ``emid`` at m: EMI(B*_j) − EMI(W*_j), disjoint m-subsets of the calibration half.

A window of a stationary stream is another such split (records from the same distribution, disjoint
from the reference sample it is compared with), so its statistic and the N null draws are
(approximately) exchangeable: the permutation p-value (1 + #{draws ≥ x}) / (1 + N) of its estimate x is
at most a with probability at most a (:meth:`NullDistribution.p_value`, :mod:`mllmshift.monitor.calibration`).
Equivalently x exceeds the conformal threshold, the ⌈(N + 1)(1 − a)⌉-th smallest draw, with probability at
most a (:meth:`NullDistribution.threshold`, +∞ when N < 1/a − 1): p ≤ a exactly when x > that draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mllmshift.monitor.calibration import p_value
from mllmshift.monitor.terms import JSD_FIELDS, TermCalculator
from mllmshift.provenance import derive_seed


@dataclass(frozen=True)
class NullDistribution:
    """Sorted null draws of one term at one size."""

    term: str
    size: int
    values: tuple[float, ...]

    def threshold(self, alpha: float) -> float:
        """The conformal (1 − α) threshold: the ⌈(N+1)(1−α)⌉-th smallest draw, +∞ if that exceeds N."""
        k = math.ceil((len(self.values) + 1) * (1.0 - alpha) - 1e-12)
        return self.values[k - 1] if 1 <= k <= len(self.values) else math.inf

    def p_value(self, value: float) -> float:
        """The permutation p-value (1 + #{draws ≥ value}) / (1 + N) of a window's estimate."""
        return p_value(self.values, value)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def z(self, value: float) -> float | None:
        """(value − mean) / std: how far a window's estimate sits in the null's spread (None if it has none)."""
        s = self.std
        return None if s <= 0 or not math.isfinite(s) else (value - self.mean) / s

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "size": self.size, "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NullDistribution:
        return cls(str(d["term"]), int(d["size"]), tuple(float(v) for v in d["values"]))


def _draws(calc: TermCalculator, term: str, size: int, n_draws: int, seed: int) -> list[float]:
    rng = np.random.default_rng(derive_seed(seed, "null", term, size))
    ref = calc.ref
    values = []
    for _ in range(n_draws):
        if term in JSD_FIELDS:
            perm = rng.permutation(len(ref))
            values.append(calc.jsd(term, ref.rows.take(np.sort(perm[size:])), ref.rows.take(np.sort(perm[:size]))))
        else:
            pool = ref.calibration if term == "emid" else ref.labelled
            perm = rng.permutation(pool)
            w, b = ref.rows.take(np.sort(perm[:size])), ref.rows.take(np.sort(perm[size:2 * size]))
            values.append(calc.output(w) - calc.output(b) if term == "output_shift" else calc.emi(b) - calc.emi(w))
    return values


class NullCache:
    """Null distributions per (term, size), computed once (seeded by term and size) and kept in the state."""

    def __init__(self, calc: TermCalculator, n_draws: int, seed: int,
                 announce: Callable[[str], None] | None = None) -> None:
        self.calc, self.n_draws, self.seed, self.announce = calc, n_draws, seed, announce
        self._cache: dict[tuple[str, int], NullDistribution] = {}

    def get(self, term: str, size: int) -> NullDistribution | None:
        """The null of ``term`` at ``size`` records, None where the reference is too small for it."""
        key = (term, size)
        if key not in self._cache:
            why = self.calc.jsd_feasible(size) if term in JSD_FIELDS else self.calc.labelled_feasible(size, term)
            if why is not None:
                return None
            if self.announce is not None:
                self.announce(f"drawing the no-shift distribution of {term} at {size} records ({self.n_draws} draws)")
            values = _draws(self.calc, term, size, self.n_draws, self.seed)
            self._cache[key] = NullDistribution(term, size, tuple(sorted(values)))
        return self._cache[key]

    def state(self) -> list[dict[str, Any]]:
        return [d.to_dict() for _, d in sorted(self._cache.items())]

    def restore(self, items: Sequence[Mapping[str, Any]]) -> None:
        for d in items:
            dist = NullDistribution.from_dict(d)
            self._cache[(dist.term, dist.size)] = dist
