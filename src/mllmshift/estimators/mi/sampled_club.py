r"""Sampled CLUB ("CLUBSample", Cheng et al., ICML 2020): CLUB with one random negative per positive.

The variational :math:`q_\theta(y\mid x)` is fitted exactly as for
:class:`~mllmshift.estimators.mi.club.CLUB` (maximum likelihood, same network
and early stopping). The estimate replaces CLUB's mean over all n negatives by
one negative per row, :math:`y_{\pi(i)}` for a random permutation π:

.. math::

    \hat I_{\mathrm{vCLUB\text{-}S}} = \frac1n\sum_i\big[\log q(y_i\mid x_i) - \log q(y_{\pi(i)}\mid x_i)\big]
      = \frac1n\sum_i\sum_d \frac{(y_{\pi(i)d}-\mu_{id})^2 - (y_{id}-\mu_{id})^2}{2\sigma^2_{id}},

an unbiased estimate of the same population quantity, O(n·d) work, with more
variance than CLUB's all-pairs negative term. π is drawn from a generator
seeded with the estimator's seed, so an estimate is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mllmshift.estimators._batches import take
from mllmshift.estimators.base import MIEstimator
from mllmshift.estimators.mi.club import CLUB


class SampledCLUB(CLUB):
    """CLUB whose negative term uses one permuted y per positive pair (CLUBSample)."""

    name = "club-sampled"

    def _permutation(self, n: int) -> np.ndarray:
        return np.random.default_rng(self.cfg.seed).permutation(n)

    def mi_many(self, x: Any, ys: Sequence[Any]) -> list[float]:
        """Estimates for several y-samples sharing x (μ, σ² computed once; the same π for each)."""
        return [float(np.mean(t)) for t in self._terms(x, ys)]

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        """Per-pair terms log q(y_i|x_i) − log q(y_π(i)|x_i), whose mean is :meth:`mi`."""
        return self._terms(x, [y])[0]

    #: CLUB's closed form does not hold for one permuted negative: re-estimate on each resample
    mi_resampled = MIEstimator.mi_resampled

    def _terms(self, x: Any, ys: Sequence[Any]) -> list[np.ndarray]:
        """Per-pair terms for each y, a row chunk at a time (the permuted y rows are gathered per chunk)."""
        xa, checked = self._checked(x, ys)
        perm = self._permutation(len(xa))
        out: list[list[np.ndarray]] = [[] for _ in checked]
        for start, mu, inv, blocks in self._blocks(xa, checked):
            rows = perm[start : start + len(mu)]
            for k, (y, yb) in enumerate(zip(checked, blocks)):
                yp = torch.as_tensor(take(y, rows), device=self.device).double()
                pos = ((yb - mu) ** 2 * inv).sum(dim=1)
                neg = ((yp - mu) ** 2 * inv).sum(dim=1)
                out[k].append((0.5 * (neg - pos)).cpu().numpy())
        return [np.concatenate(o) for o in out]
