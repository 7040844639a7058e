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

import torch

from mllmshift.estimators.mi.variational import ScoreStats, VariationalMI


class InfoNCE(VariationalMI):
    """InfoNCE lower bound with a separable (default) or joint critic; at most ln(n)."""

    name = "infonce"

    def _value(self, stats: ScoreStats) -> torch.Tensor:
        return stats.infonce_sum / stats.n
