r"""SMILE (Song & Ermon, ICLR 2020): a DV estimate with clipped negative density ratios.

.. math::

    \hat I_{\mathrm{SMILE}} = \mathbb E_{P_{XY}}[T]
        - \log \mathbb E_{P_X\otimes P_Y}\big[\operatorname{clip}(e^{T}, e^{-\tau}, e^{\tau})\big].

Clipping bounds the variance of the partition-function term (which for the
unclipped DV/MINE grows like :math:`e^{I}`), at the cost of bias when the
true log density ratio exceeds τ. As in the authors' code, the critic is trained
on the Jensen–Shannon (f-GAN) objective
:math:`\mathbb E_P[-\operatorname{softplus}(-T)] - \mathbb E_Q[\operatorname{softplus}(T)]`,
whose optimum is also the log density ratio, and the clipped DV value is
reported (``js + sg(dv − js)``). ``tau`` defaults to 5; ``tau=inf`` gives the
unclipped DV value of a JS-trained critic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from mllmshift.estimators.base import Bound
from mllmshift.estimators.mi.scores import ScoreStats
from mllmshift.estimators.mi.variational import VariationalConfig, VariationalMI


@dataclass(frozen=True)
class SMILEConfig(VariationalConfig):
    """:class:`VariationalConfig` plus the clip level τ of the log density ratio."""

    tau: float = 5.0
    #: the clip tau is > 0, and may be +inf (no clipping: the plain DV bound)
    constraints: ClassVar[dict[str, Bound]] = {**VariationalConfig.constraints, "tau": Bound(0, open=True, inf=True)}


class SMILE(VariationalMI):
    """SMILE: clipped-DV value, Jensen–Shannon-trained critic."""

    name = "smile"
    config_class = SMILEConfig

    def __init__(self, x_dim: int | None, y_dim: int | None, *, seed: int = 0, **options: Any) -> None:
        super().__init__(x_dim, y_dim, seed=seed, **options)
        if not self.cfg.tau > 0:  # type: ignore[attr-defined]
            raise ValueError("tau must be positive")

    def _tau(self) -> float | None:
        tau = float(self.cfg.tau)  # type: ignore[attr-defined]
        return None if math.isinf(tau) else tau

    def _value(self, stats: ScoreStats) -> torch.Tensor:
        return stats.pos_mean - stats.log_mean_exp_neg_clip

    def _objective(self, stats: ScoreStats, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        # softplus(−inf) = 0, so the −inf non-pairs drop out of the sum
        js = -F.softplus(-pos).mean() - F.softplus(neg).sum() / stats.neg_count
        dv = self._value(stats)
        return js + (dv - js).detach()
