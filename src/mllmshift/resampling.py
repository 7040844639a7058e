r"""Bootstrap weights, handed to estimators chunk by chunk instead of as a B × n matrix.

A bootstrap replicate b gives each sample i a multiplicity :math:`c_{bi}`; an estimator evaluated on the
replicate weighs sample i by :math:`c_{bi}/\sum_j c_{bj}`. Two schemes:

- :class:`MatrixWeights`: the classic (multinomial) bootstrap, n draws with replacement, from a B × n matrix
  of counts held in memory (:func:`multinomial_counts`); what small splits use.
- :class:`PoissonWeights`: the **Poisson bootstrap**, :math:`c_{bi} \sim \mathrm{Poisson}(1)` independently.
  Block (r, c) of the counts, replicates ``[r·R, (r+1)·R)`` × rows ``[c·C, (c+1)·C)``, is drawn from a
  Philox generator keyed by ``SeedSequence([seed, stream, r, c])`` (``stream`` tells apart the splits of one
  EMID), so any chunk of rows is generated on its own,
  whatever the chunk size or the number of replicates, and no n × B matrix ever exists. The resample size
  :math:`\sum_i c_{bi}` is random (mean n, sd √n) instead of exactly n; for large n the two bootstraps
  agree (tests/test_resampling.py measures their intervals against each other).

:func:`choose_scheme` picks multinomial while B × n counts fit in :data:`MULTINOMIAL_MAX_CELLS`, Poisson
beyond; results record the scheme used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from mllmshift.vocab import BOOTSTRAP_SCHEMES

__all__ = ["ResampleWeights", "MatrixWeights", "PoissonWeights", "SelectedWeights", "multinomial_counts", "counts_of_draws",
           "choose_scheme", "SCHEMES", "MULTINOMIAL_MAX_CELLS"]

SCHEMES = BOOTSTRAP_SCHEMES  # the vocabulary's, named here as this module has always named it
#: the largest B × n for which ``auto`` keeps the multinomial bootstrap's count matrix in memory (80 MB)
MULTINOMIAL_MAX_CELLS = 10_000_000


class ResampleWeights(ABC):
    """Multiplicities of B bootstrap replicates of n samples, readable by row range (see the module docstring)."""

    scheme: str = "weights"

    def __init__(self, n: int, n_resamples: int) -> None:
        self.n, self.n_resamples = int(n), int(n_resamples)

    @abstractmethod
    def block(self, start: int, stop: int, replicates: np.ndarray | None = None) -> np.ndarray:
        """Multiplicities (float64, len(replicates) × (stop − start)) of rows ``[start, stop)``; all replicates
        when ``replicates`` is None."""

    def totals(self, step: int = 65536) -> np.ndarray:
        """Σ_i c_bi of every replicate (its resample size)."""
        out = np.zeros(self.n_resamples)
        for s in range(0, self.n, step):
            out += self.block(s, min(s + step, self.n)).sum(axis=1)
        return out

    def select(self, replicates: Sequence[int] | np.ndarray) -> ResampleWeights:
        """The replicates at ``replicates`` (in that order) as weights of their own."""
        return SelectedWeights(self, np.asarray(replicates, dtype=np.int64))

    def indices(self, replicate: int) -> np.ndarray:
        """The row indices of one replicate's resample (row i repeated c_bi times)."""
        counts = self.block(0, self.n, np.array([replicate]))[0]
        return np.repeat(np.arange(self.n), np.rint(counts).astype(np.int64))


class MatrixWeights(ResampleWeights):
    """Multiplicities from a B × n matrix in memory."""

    scheme = "multinomial"

    def __init__(self, counts: np.ndarray) -> None:
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim != 2:
            raise ValueError(f"counts must be a (B, n) matrix, got shape {c.shape}")
        super().__init__(c.shape[1], c.shape[0])
        self.counts = c

    def block(self, start: int, stop: int, replicates: np.ndarray | None = None) -> np.ndarray:
        rows = self.counts if replicates is None else self.counts[replicates]
        return rows[:, start:stop]


class PoissonWeights(ResampleWeights):
    """Poisson(1) multiplicities generated per (replicate block, row block) from a keyed Philox stream."""

    scheme = "poisson"
    #: replicates and rows per generated block (fixed: they define the stream, not the reading)
    REPLICATES_PER_BLOCK = 64
    ROWS_PER_BLOCK = 4096

    def __init__(self, n: int, n_resamples: int, seed: int, stream: int = 0) -> None:
        super().__init__(n, n_resamples)
        self.seed, self.stream = int(seed), int(stream)

    def _generated(self, r: int, c: int) -> np.ndarray:
        gen = np.random.Generator(np.random.Philox(np.random.SeedSequence([self.seed, self.stream, r, c])))
        return gen.poisson(1.0, size=(self.REPLICATES_PER_BLOCK, self.ROWS_PER_BLOCK)).astype(np.float64)

    def block(self, start: int, stop: int, replicates: np.ndarray | None = None) -> np.ndarray:
        reps = np.arange(self.n_resamples) if replicates is None else np.asarray(replicates, dtype=np.int64)
        R, C = self.REPLICATES_PER_BLOCK, self.ROWS_PER_BLOCK
        out = np.empty((len(reps), max(0, stop - start)))
        for r in np.unique(reps // R):
            sel = np.flatnonzero(reps // R == r)
            for c in range(start // C, (stop - 1) // C + 1 if stop > start else start // C):
                lo, hi = max(start, c * C), min(stop, (c + 1) * C)
                out[sel, lo - start : hi - start] = self._generated(int(r), c)[reps[sel] - r * R, lo - c * C : hi - c * C]
        return out


class SelectedWeights(ResampleWeights):
    """Some replicates of other weights."""

    def __init__(self, base: ResampleWeights, replicates: np.ndarray) -> None:
        super().__init__(base.n, len(replicates))
        self.base, self.replicates, self.scheme = base, replicates, base.scheme

    def block(self, start: int, stop: int, replicates: np.ndarray | None = None) -> np.ndarray:
        reps = self.replicates if replicates is None else self.replicates[np.asarray(replicates, dtype=np.int64)]
        return self.base.block(start, stop, reps)


def multinomial_counts(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B × n) multiplicities of B resamples of n items drawn with replacement (rows sum to n)."""
    return counts_of_draws(rng.integers(0, n, size=(n_resamples, n)), n)


def counts_of_draws(idx: np.ndarray, n: int) -> np.ndarray:
    """(B × n) multiplicities of the (B × m) index matrix ``idx`` of draws from n items (one bincount)."""
    flat = (np.arange(len(idx))[:, None] * n + idx).ravel()  # resample b's draw of item i → cell b·n + i
    return np.bincount(flat, minlength=len(idx) * n).reshape(len(idx), n).astype(np.float64)


def choose_scheme(scheme: str, n: int, n_resamples: int) -> str:
    """The concrete scheme of ``auto``: multinomial while B × n ≤ :data:`MULTINOMIAL_MAX_CELLS`, else Poisson."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown bootstrap scheme {scheme!r}; choose from {SCHEMES}")
    if scheme != "auto":
        return scheme
    return "multinomial" if n * n_resamples <= MULTINOMIAL_MAX_CELLS else "poisson"
