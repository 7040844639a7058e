r"""InfoNCE (van den Oord et al., 2018; Poole et al., 2019): a contrastive lower bound of I(X; Y).

With a critic T and, for each positive pair :math:`(x_i, y_i)`, a set
:math:`N_i` of k negatives,

.. math::

    \hat I_{\mathrm{NCE}} = \frac1n\sum_i \Big[T(x_i,y_i)
        - \log\frac{1}{1+k}\Big(e^{T(x_i,y_i)} + \sum_{j\in N_i} e^{T(x_i,y_j)}\Big)\Big]
    \;\le\; \log(1+k).

**Capped at ln(1 + k)**: the estimate can never exceed the log of the number of
candidates per row. ``mi(x, y)`` uses every other sample as a negative, so on n
pairs it is at most ln n (ln 100 ≈ 4.6, ln 1000 ≈ 6.9 nats); during training
the cap is ln(batch_size). When the true MI is near or above the cap, InfoNCE
is biased low by construction; its variance is low, which is its strength.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mllmshift.estimators.mi.variational import ScoreStats, VariationalMI
from mllmshift.resampling import ResampleWeights

#: the most replicate weights (b × n) held at a time by :meth:`InfoNCE.mi_resampled`
WEIGHT_CELLS = 2**23


class InfoNCE(VariationalMI):
    """InfoNCE lower bound with a separable (default) or joint critic; at most ln(n)."""

    name = "infonce"

    def _value(self, stats: ScoreStats) -> torch.Tensor:
        return stats.infonce_sum / stats.n

    def ceiling(self, n: int) -> float:
        """ln(1 + k) with k the negatives per row of :meth:`mi` on n pairs: ln n with every other sample."""
        k = self.cfg.negatives
        return math.log(n if k is None or k >= n - 1 else 1 + k)

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        r"""Per-pair terms :math:`T_{ii} - \log\frac{1}{1+k}\big(e^{T_{ii}} + \sum_{j\in N_i} e^{T_{ij}}\big)`,
        whose mean is :meth:`mi`."""
        parts = [(pos.double() - torch.logaddexp(pos, torch.logsumexp(neg, dim=1)).double() + math.log(1 + k))
                 for pos, neg, k in self._chunk_scores(self._rows(x, y), self.cfg.seed)]
        return torch.cat(parts).cpu().numpy()

    def mi_resampled(self, x: Any, ys: Sequence[Any], weights: ResampleWeights) -> np.ndarray:
        r"""InfoNCE on B reweighted samples, as a (len(ys) × B) array.

        With all-pairs scores :math:`S_{ij}=T(x_i,y_j)` and w a replicate's multiplicities normalised to sum
        1, :meth:`mi` on the resample (duplicates included, every row scored against all n rows) is

        .. math::  \hat I_w = \sum_i w_i S_{ii} - \sum_i w_i \log\sum_j w_j e^{S_{ij}},

        so a block of replicates costs one pass of score rows and a (b × n)·(n × chunk) product per row
        chunk. All-pairs InfoNCE is O(n²) anyway; the weights of a block of replicates (b × n) are held while
        it is scored. With ``negatives=K`` each resample is re-estimated
        (:meth:`MIEstimator.mi_resampled`).
        """
        n = len(x)
        if not self._all_negatives(n):
            return super().mi_resampled(x, ys, weights)
        if weights.n != n:
            raise ValueError(f"weights are for {weights.n} rows, the sample has {n}")
        out = np.empty((len(ys), weights.n_resamples))
        step = max(1, min(weights.n_resamples, WEIGHT_CELLS // n))
        for k, y in enumerate(ys):
            rows = self._rows(x, y)
            with torch.no_grad():
                _, gy = self._all_y(rows)
                y_all = None if gy is not None else self._all_y(rows)[0]
                for b0 in range(0, weights.n_resamples, step):
                    reps = np.arange(b0, min(b0 + step, weights.n_resamples))
                    w = weights.block(0, n, reps)
                    out[k, reps] = self._weighted(rows, gy, y_all, w / w.sum(axis=1, keepdims=True))
        return out

    def _weighted(self, rows: Any, gy: torch.Tensor | None, y_all: torch.Tensor | None, w: np.ndarray) -> np.ndarray:
        """Î_w of the module docstring for each row of the normalised weights ``w`` (b × n)."""
        wt = torch.as_tensor(w, dtype=torch.float64, device=self.device)
        out = torch.zeros(len(w), dtype=torch.float64, device=self.device)
        chunk = self._row_chunk(len(rows))
        for s, (xb, _) in zip(range(0, len(rows), chunk), rows.chunks(chunk)):
            sc = self._score_matrix(xb, y_all, gy).double()
            r = torch.arange(len(xb), device=sc.device)
            top = sc.max(dim=1).values
            # log Σ_j w_bj e^{S_ij} for every resample b and row i of the chunk (b × chunk)
            lse = torch.log(wt @ torch.exp(sc - top[:, None]).T) + top[None, :]
            wb = wt[:, s : s + len(xb)]
            out += wb @ sc[r, r + s] - (wb * torch.where(wb > 0, lse, torch.zeros_like(lse))).sum(dim=1)
        return out.cpu().numpy()
