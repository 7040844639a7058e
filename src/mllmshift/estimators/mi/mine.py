r"""MINE (Belghazi et al., ICML 2018): the Donsker–Varadhan lower bound with a bias-corrected gradient.

.. math::

    \hat I_{\mathrm{DV}} = \mathbb E_{P_{XY}}[T] - \log \mathbb E_{P_X\otimes P_Y}[e^{T}].

The mini-batch gradient of the log term, :math:`\nabla \bar e / \bar e` with
:math:`\bar e` the batch mean of :math:`e^T` over negatives, is biased. MINE
replaces the denominator by an exponential moving average
:math:`m \leftarrow (1-\alpha)\,m + \alpha\,\bar e` (``ema_rate`` α = 0.01 as in
the paper): training maximises :math:`\bar T_+ - \bar e/\operatorname{sg}(m)`,
whose gradient is :math:`\nabla\bar T_+ - \nabla\bar e / m`. The moving average
is kept in log space so large scores cannot overflow. The reported value
(held-out early stopping and ``mi``) is the plain DV bound above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from mllmshift.estimators.mi.scores import ScoreStats
from mllmshift.estimators.mi.variational import VariationalConfig, VariationalMI


@dataclass(frozen=True)
class MINEConfig(VariationalConfig):
    """:class:`VariationalConfig` plus the moving-average rate α of the gradient correction."""

    ema_rate: float = 0.01


class MINE(VariationalMI):
    """Donsker–Varadhan bound trained with MINE's moving-average gradient correction."""

    name = "mine"
    config_class = MINEConfig

    def __init__(self, x_dim: int | None, y_dim: int | None, *, seed: int = 0, **options: Any) -> None:
        super().__init__(x_dim, y_dim, seed=seed, **options)
        if not 0.0 < self.cfg.ema_rate <= 1.0:  # type: ignore[attr-defined]
            raise ValueError("ema_rate must be in (0, 1]")
        self._log_ma: torch.Tensor | None = None

    def _reset_training_state(self) -> None:
        self._log_ma = None

    def _value(self, stats: ScoreStats) -> torch.Tensor:
        return stats.pos_mean - stats.log_mean_exp_neg

    def _objective(self, stats: ScoreStats, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        lme = stats.log_mean_exp_neg
        alpha = self.cfg.ema_rate  # type: ignore[attr-defined]
        cur = lme.detach()
        if self._log_ma is None or alpha == 1.0:
            self._log_ma = cur
        else:
            self._log_ma = torch.logaddexp(self._log_ma + math.log1p(-alpha), cur + math.log(alpha))
        # value ≈ 1, gradient = ∇ē / m (MINE's corrected gradient of log ē)
        return stats.pos_mean - torch.exp(lme - self._log_ma)
