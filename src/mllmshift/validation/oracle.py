r"""Monte Carlo Jensen–Shannon divergence on true densities.

With :math:`M = (P+Q)/2`,

.. math::

    \mathrm{JSD}(P\|Q) = \tfrac12\,\mathbb E_P\Big[\log\frac{p}{m}\Big] + \tfrac12\,\mathbb E_Q\Big[\log\frac{q}{m}\Big],
    \qquad \log m = \operatorname{logaddexp}(\log p, \log q) - \ln 2,

estimated with N draws from each of P and Q. Each integrand lies in
:math:`(-\infty, \ln 2]`, and the standard error is
:math:`\tfrac12\sqrt{(s_P^2 + s_Q^2)/N}` from the two sample variances.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Sampler = Callable[[int, np.random.Generator], np.ndarray]
LogPdf = Callable[[np.ndarray], np.ndarray]


def jsd_monte_carlo(sample_p: Sampler, logpdf_p: LogPdf, sample_q: Sampler, logpdf_q: LogPdf, n: int,
                    rng: np.random.Generator) -> tuple[float, float]:
    """(JSD in nats, Monte Carlo standard error) from ``n`` draws of each distribution."""
    if n < 2:
        raise ValueError("the Monte Carlo oracle needs at least 2 draws")
    zp, zq = sample_p(n, rng), sample_q(n, rng)

    def log_ratio(z: np.ndarray, own: LogPdf, other: LogPdf) -> np.ndarray:
        a, b = own(z), other(z)
        return a - (np.logaddexp(a, b) - math.log(2.0))

    tp = log_ratio(zp, logpdf_p, logpdf_q)
    tq = log_ratio(zq, logpdf_q, logpdf_p)
    value = 0.5 * (tp.mean() + tq.mean())
    stderr = 0.5 * math.sqrt((tp.var(ddof=1) + tq.var(ddof=1)) / n)
    return float(value), float(stderr)
