r"""Critic scores reduced to what every variational bound needs, chunk by chunk and per bootstrap replicate.

A critic :math:`T(x, y)` is scored on *positive* pairs :math:`(x_i, y_i)` and on *negative* pairs
:math:`(x_i, y_j), j \ne i` (the set :math:`N_i`, :math:`k_i = |N_i|`). Every bound of
:mod:`~mllmshift.estimators.mi.variational` is a function of four statistics of those scores
(:class:`ScoreStats`), kept as sums so that row chunks merge exactly:

- the mean positive score :math:`\bar T_+ = \frac1n\sum_i T(x_i, y_i)`,
- the InfoNCE term :math:`\frac1n\sum_i \big[T_{ii} - \log\frac{1}{1+k_i}\big(e^{T_{ii}} + \sum_{j\in N_i} e^{T_{ij}}\big)\big]`,
- :math:`\log\sum_{\text{neg}} e^{T}` over all negative pairs, and the same with
  :math:`T` clipped to :math:`[-\tau, \tau]` (SMILE).

:func:`split_diagonal` takes the positives out of an all-pairs score block; :func:`by_replicate_blocks`
evaluates a bound for bootstrap replicates a block of weights at a time; :func:`pointwise_terms` splits any bound
into per-row contributions whose mean is the bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from mllmshift.resampling import ResampleWeights

#: the most replicate weights (b × n) held at a time by :func:`by_replicate_blocks`
WEIGHT_CELLS = 2**23


@dataclass
class ScoreStats:
    """Sufficient statistics of critic scores for every bound (sums, so chunks merge exactly)."""

    n: int
    pos_sum: torch.Tensor
    infonce_sum: torch.Tensor
    neg_lse: torch.Tensor
    neg_lse_clip: torch.Tensor
    neg_count: float

    @classmethod
    def from_scores(cls, pos: torch.Tensor, neg: torch.Tensor, tau: float | None, k: int | None = None) -> ScoreStats:
        """Statistics of positives ``pos`` (n) and their negatives ``neg`` (n × K).

        Entries of ``neg`` equal to −inf are not pairs (the diagonal of an all-pairs
        score matrix); ``k`` is then the number of real negatives per row.
        """
        k = neg.shape[1] if k is None else k
        row = torch.logaddexp(pos, torch.logsumexp(neg, dim=1))
        infonce = (pos.double() - row.double()).sum() + len(pos) * math.log(1 + k)
        lse = torch.logsumexp(torch.logsumexp(neg, dim=1).double(), dim=0)
        if tau is None:
            lse_clip = lse
        else:
            clipped = torch.where(torch.isneginf(neg), neg, neg.clamp(-tau, tau))
            lse_clip = torch.logsumexp(torch.logsumexp(clipped, dim=1).double(), dim=0)
        return cls(len(pos), pos.double().sum(), infonce, lse, lse_clip, len(pos) * k)

    def merge(self, other: ScoreStats) -> ScoreStats:
        return ScoreStats(self.n + other.n, self.pos_sum + other.pos_sum, self.infonce_sum + other.infonce_sum,
                          torch.logaddexp(self.neg_lse, other.neg_lse),
                          torch.logaddexp(self.neg_lse_clip, other.neg_lse_clip), self.neg_count + other.neg_count)

    @property
    def pos_mean(self) -> torch.Tensor:
        return self.pos_sum / self.n

    @property
    def log_mean_exp_neg(self) -> torch.Tensor:
        """log of the mean of e^T over negative pairs, an estimate of log E_{P_X⊗P_Y}[e^T]."""
        return self.neg_lse - math.log(self.neg_count)

    @property
    def log_mean_exp_neg_clip(self) -> torch.Tensor:
        return self.neg_lse_clip - math.log(self.neg_count)


def by_replicate_blocks(weights: ResampleWeights, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn(w)`` over blocks of replicates, ``w`` the block's multiplicities normalised to sum 1 per replicate
    (b × n, at most :data:`WEIGHT_CELLS` entries), concatenated into the B estimates."""
    if weights.n != n:
        raise ValueError(f"weights are for {weights.n} rows, the sample has {n}")
    out = np.empty(weights.n_resamples)
    step = max(1, min(weights.n_resamples, WEIGHT_CELLS // n))
    for b0 in range(0, weights.n_resamples, step):
        reps = np.arange(b0, min(b0 + step, weights.n_resamples))
        w = weights.block(0, n, reps)
        out[reps] = fn(w / w.sum(axis=1, keepdims=True))
    return out


def split_diagonal(scores: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positives T(x_i, y_i) at ``(r, r + offset)`` and the scores with those set to −inf (not negatives)."""
    rows = torch.arange(len(scores), device=scores.device)
    pos = scores[rows, rows + offset]
    mask = torch.zeros_like(scores, dtype=torch.bool)
    mask[rows, rows + offset] = True
    return pos, scores.masked_fill(mask, -math.inf)


def _row_parts(pos: torch.Tensor, neg: torch.Tensor, tau: float | None,
               k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row: the positive score, the InfoNCE term, log Σ_j e^{T_ij} over its negatives and the same clipped."""
    lse = torch.logsumexp(neg, dim=1).double()
    nce = pos.double() - torch.logaddexp(pos.double(), lse) + math.log(1 + k)
    if tau is None:
        lse_clip = lse
    else:
        lse_clip = torch.logsumexp(torch.where(torch.isneginf(neg), neg, neg.clamp(-tau, tau)), dim=1).double()
    return pos.double(), nce, lse, lse_clip


def pointwise_terms(chunks: Iterable[tuple[torch.Tensor, torch.Tensor, int]], tau: float | None,
                    value: Callable[[ScoreStats], torch.Tensor]) -> np.ndarray:
    r"""Per-row contributions :math:`c_i` whose mean is ``value(stats)`` exactly, for any bound of the four
    statistics, from score chunks ``(pos, neg, k)`` covering every row once (k negatives per row, −inf for
    non-pairs).

    A bound :math:`\hat I = f(\bar s)` is a function of the means :math:`\bar s` of four per-row statistics
    :math:`s_i`: the positive score :math:`T_{ii}`, the InfoNCE term, and, for each of the two log-partition
    terms :math:`L = \log\frac1{nk}\sum_{i,j} e^{T_{ij}}` (plain and clipped), the row's linearised share
    :math:`\ell_i = L + r_i/\bar r - 1` with :math:`r_i = \frac1k\sum_j e^{T_{ij}}` (so that
    :math:`\frac1n\sum_i\ell_i = L`). Then

    .. math::  c_i = f(\bar s) + \nabla f(\bar s)\cdot(s_i - \bar s)

    (the estimate's empirical influence function) has mean :math:`f(\bar s)`, the estimate, and says how much
    row i pulls it up or down: a row whose positive pair scores high raises it, a row whose negatives score high
    (its answer fits other inputs as well) lowers it. For InfoNCE, a mean of per-row terms already, :math:`c_i`
    is that term. Why linearise: DV-type bounds (SMILE, MINE) take the log of a mean over all pairs, which has
    no exact per-row split; the influence split is the one whose mean is exact and which is first-order right
    for removing a row.
    """
    parts = [_row_parts(pos, neg, tau, k) + (k,) for pos, neg, k in chunks]
    if not parts:
        raise ValueError("no rows to score")
    t, nce, lse, lse_clip = (torch.cat([p[i] for p in parts]) for i in range(4))
    ks = {p[4] for p in parts}
    if len(ks) != 1:
        raise ValueError("every row needs the same number of negatives for an exact pointwise split")
    k = ks.pop()
    n = len(t)
    log_count = math.log(n * k)

    def share(row_lse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        big_l = torch.logsumexp(row_lse, dim=0) - log_count
        return big_l, big_l + torch.exp(row_lse - math.log(k) - big_l) - 1.0

    big_l, ell = share(lse)
    big_lc, ell_c = share(lse_clip)
    means = torch.stack([t.mean(), nce.mean(), big_l, big_lc]).detach().requires_grad_(True)
    stats = ScoreStats(n, means[0] * n, means[1] * n, means[2] + log_count, means[3] + log_count, float(n * k))
    f = value(stats)
    (grad,) = torch.autograd.grad(f, means)
    rows = torch.stack([t, nce, ell, ell_c], dim=1)
    return (f.detach() + (rows - means.detach()) @ grad).cpu().numpy()
