r"""NWJ (Nguyen, Wainwright & Jordan, 2010), the f-divergence lower bound of I(X; Y) (Poole et al.'s I_NWJ).

.. math::

    \hat I_{\mathrm{NWJ}} = \mathbb E_{P_{XY}}[T] - e^{-1}\,\mathbb E_{P_X\otimes P_Y}[e^{T}],

estimated with the mean critic score over positive pairs and the mean of
:math:`e^{T-1}` over negative pairs. Tight at :math:`T^* = 1 + \log\frac{p(x,y)}{p(x)p(y)}`.
Unbiased for a fixed critic but high-variance at large MI (the exponential of
the negative scores).
"""

from __future__ import annotations

import torch

from mllmshift.estimators.mi.scores import ScoreStats
from mllmshift.estimators.mi.variational import VariationalMI


class NWJ(VariationalMI):
    """NWJ lower bound with a separable (default) or joint critic."""

    name = "nwj"

    def _value(self, stats: ScoreStats) -> torch.Tensor:
        return stats.pos_mean - torch.exp(stats.log_mean_exp_neg - 1.0)
