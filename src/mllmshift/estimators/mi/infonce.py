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

from mllmshift.estimators.base import check_pairs
from mllmshift.estimators.mi.variational import ScoreStats, VariationalMI


class InfoNCE(VariationalMI):
    """InfoNCE lower bound with a separable (default) or joint critic; at most ln(n)."""

    name = "infonce"

    def _value(self, stats: ScoreStats) -> torch.Tensor:
        return stats.infonce_sum / stats.n

    def ceiling(self, n: int) -> float:
        """ln(1 + k) with k the negatives per row of :meth:`mi` on n pairs: ln n with every other sample."""
        k = self.cfg.negatives
        return math.log(n if k is None or k >= n - 1 else 1 + k)

    def _all_negatives(self, n: int) -> None:
        k = self.cfg.negatives
        if k is not None and k < n - 1:
            raise NotImplementedError("needs negatives=None (every other sample a negative)")

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        r"""The per-pair terms :math:`S_{ii} - \log\frac1n\sum_j e^{S_{ij}}` whose mean is :meth:`mi` (all negatives)."""
        xa, ya = check_pairs(x, y)
        self._all_negatives(len(xa))
        return infonce_pointwise(self.score_rows(xa, ya, np.arange(len(xa))), len(xa))

    def mi_weighted(self, x: Any, y: Any, weights: np.ndarray, *, own_once: bool = False) -> np.ndarray:
        r"""InfoNCE on reweighted samples, one per row of ``weights`` (B × n, rows of multiplicities / n).

        With all-pairs scores :math:`S_{ij}=T(x_i,y_j)` and w a row of weights, :meth:`mi` on the
        resample (duplicates included, every row scored against all n rows) is

        .. math::  \hat I_w = \sum_i w_i S_{ii} - \sum_i w_i \log\sum_j w_j e^{S_{ij}},

        so B resamples cost one score matrix and a (B × n)·(n × n) product, in row chunks.
        Only for the default all-negatives protocol; with ``negatives=K`` it raises (the
        bootstrap then re-estimates on each resample). ``own_once=True``: the duplicate-aware resample of
        :func:`infonce_weighted`.
        """
        xa, ya = check_pairs(x, y)
        self._all_negatives(len(xa))
        return infonce_weighted(self.score_rows(xa, ya, np.arange(len(xa))), weights, len(xa), own_once)


def infonce_pointwise(blocks: Iterable[tuple[np.ndarray, torch.Tensor]], n: int) -> np.ndarray:
    r"""Per-row InfoNCE terms :math:`S_{ii} - \log\frac1n\sum_j e^{S_{ij}}` from blocks ``(rows, S[rows, :])``."""
    out = np.empty(n)
    for rows, sc in blocks:
        pos = sc[torch.arange(len(rows)), torch.as_tensor(rows)]
        out[rows] = (pos - torch.logsumexp(sc, dim=1) + math.log(n)).numpy()
    return out


def infonce_weighted(blocks: Iterable[tuple[np.ndarray, torch.Tensor]], weights: np.ndarray, n: int,
                     own_once: bool = False) -> np.ndarray:
    r""":math:`\hat I_w = \sum_i w_i S_{ii} - \sum_i w_i \log\sum_j w_j e^{S_{ij}}` for every row w of ``weights``
    (B × n), from score blocks ``(rows, S[rows, :])`` that together cover every row once.

    ``own_once=True`` gives the *duplicate-aware* resample instead: a row's own pair counts once among its n
    candidates whatever its multiplicity, and the other rows share the remaining n − 1 places by their weights,

    .. math::  \hat I_w = \sum_i w_i \Big[S_{ii} - \log\Big(\tfrac1n e^{S_{ii}}
               + \tfrac{n-1}{n}\sum_{j\ne i}\tfrac{w_j}{1-w_i} e^{S_{ij}}\Big)\Big],

    so the copies of a pair drawn twice by the bootstrap do not act as each other's negatives (which lowers
    InfoNCE by up to ln 2 per duplicated row when the critic separates pairs well). Equal to the plain formula
    at uniform weights.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"weights must be (B, {n}), got {w.shape}")
    wt = torch.as_tensor(w, dtype=torch.float64)
    out = torch.zeros(len(w), dtype=torch.float64)
    for rows, sc in blocks:
        r = torch.as_tensor(rows)
        pos = sc[torch.arange(len(rows)), r]
        top = sc.max(dim=1).values
        ex = torch.exp(sc - top[:, None])  # rows × n
        wb = wt[:, r]  # B × rows
        total = wt @ ex.T  # Σ_j w_bj e^{S_ij − top_i}: B × rows
        if own_once:
            own = torch.exp(pos - top)[None, :]
            others = (total - wb * own) / (1.0 - wb).clamp_min(1e-12)
            lse = torch.log(own / n + (n - 1) / n * others) + top[None, :]
        else:
            lse = torch.log(total) + top[None, :]
        out += wb @ pos - (wb * torch.where(wb > 0, lse, torch.zeros_like(lse))).sum(dim=1)
    return out.numpy()
