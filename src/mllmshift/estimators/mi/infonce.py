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
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from mllmshift.estimators.mi.scores import ScoreStats
from mllmshift.estimators.mi.variational import VariationalMI


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

    def _resampled_block(self, x: Any, y: Any, w: np.ndarray) -> np.ndarray:
        r"""InfoNCE on reweighted samples, one per row of the normalised weights ``w`` (b × n).

        With all-pairs scores :math:`S_{ij}=T(x_i,y_j)` and w a replicate's multiplicities normalised to sum
        1, :meth:`mi` on the resample (duplicates included, every row scored against all n rows) is

        .. math::  \hat I_w = \sum_i w_i S_{ii} - \sum_i w_i \log\sum_j w_j e^{S_{ij}},

        so a block of replicates costs one pass of score rows (:func:`infonce_weighted`). With ``negatives=K``
        each resample is re-estimated (:meth:`MIEstimator.mi_resampled`).
        """
        return infonce_weighted(self.score_rows(x, y, np.arange(len(x))), w, self.device)


def infonce_pointwise(blocks: Iterable[tuple[np.ndarray, torch.Tensor]], n: int) -> np.ndarray:
    r"""Per-row InfoNCE terms :math:`S_{ii} - \log\frac1n\sum_j e^{S_{ij}}` from score blocks ``(rows, S[rows, :])``
    that together cover every row once (all n − 1 other rows as negatives); used by the cross-fitted estimator,
    whose rows are scored by different members."""
    out = np.empty(n)
    for rows, sc in blocks:
        pos = sc[torch.arange(len(rows)), torch.as_tensor(rows)]
        out[rows] = (pos - torch.logsumexp(sc, dim=1) + math.log(n)).numpy()
    return out


def infonce_weighted(blocks: Iterable[tuple[np.ndarray, torch.Tensor]], w: np.ndarray,
                     device: torch.device | str = "cpu") -> np.ndarray:
    r""":math:`\hat I_w = \sum_i w_i S_{ii} - \sum_i w_i \log\sum_j w_j e^{S_{ij}}` for every row w of the
    normalised weights ``w`` (b × n), from float64 score blocks ``(rows, S[rows, :])`` on ``device`` that cover
    every row once (a b × rows · rows × n product per block)."""
    wt = torch.as_tensor(w, dtype=torch.float64, device=device)
    out = torch.zeros(len(w), dtype=torch.float64, device=device)
    for rows, sc in blocks:
        r = torch.as_tensor(rows, device=device)
        pos = sc[torch.arange(len(rows), device=device), r]
        top = sc.max(dim=1).values
        # log Σ_j w_bj e^{S_ij} for every resample b and row i of the block (b × rows)
        lse = torch.log(wt @ torch.exp(sc - top[:, None]).T) + top[None, :]
        wb = wt[:, r]
        out += wb @ pos - (wb * torch.where(wb > 0, lse, torch.zeros_like(lse))).sum(dim=1)
    return out.cpu().numpy()
