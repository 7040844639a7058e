r"""Representation Jensen–Shannon divergence with the linear kernel (Hoyos-Osorio & Sanchez-Giraldo, 2023).

Each sample :math:`Z\in\mathbb R^{n\times d}` is summarised by its
uncentred covariance operator normalised to unit trace,
:math:`C_Z = Z^\top Z/\operatorname{tr}(Z^\top Z)` (a density matrix). With the
von Neumann entropy :math:`S(C) = -\sum_k \lambda_k\ln\lambda_k` over the
eigenvalues of C,

.. math::

    \mathrm{RJSD}(P\|Q) = S\!\left(\tfrac{C_P + C_Q}{2}\right) - \tfrac12\left(S(C_P) + S(C_Q)\right)
    \in [0, \ln 2].

Normalising each covariance by its own trace makes the estimate independent
of the two sample sizes. (The paper's code mixes the *unnormalised* Gram
matrices, which weights the mixture by sample size; ``official_unnormalised=True``
reproduces that for comparison.) Concavity of S makes the value non-negative;
rounding can push it slightly below 0, and it is then clipped to 0 with a warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mllmshift.estimators.base import DivergenceEstimator, as_2d_float
from mllmshift.native_threads import one_blas_thread
from mllmshift.sources import iter_blocks

_CHUNK = 8192


def gram(z: Any, chunk: int | None = None) -> np.ndarray:
    """ZᵀZ (d × d, float64), accumulated over row chunks (of an array, or read from a source with the next
    chunk prefetched) so no n × d float64 copy is made; on the current device
    (:func:`mllmshift.devices.current_device`). The sums are :class:`GramSum`'s."""
    acc = GramSum(z.shape[1])
    for _, (block,) in iter_blocks([z], chunk or _CHUNK):
        acc.add(block)
    return acc.value()


class GramSum:
    """ZᵀZ summed over the row blocks :meth:`add` is given (the blocks of :func:`gram`, or of a reader that
    computes other sums from the same read: :mod:`mllmshift.onepass`).

    Each block's product is a BLAS call in the rows' precision (float32 from sources), accumulated in float64.
    On the CPU it is numpy's ``b.T @ b``, which BLAS computes as a symmetric rank-k update (syrk: half the
    multiplications of the general product torch's ``t.T @ t`` runs; 0.053 vs 0.099 CPU s for an 8,192 × 768
    chunk on one thread, the bound's main cost out of core: ``benchmarks/scale.py``); on a GPU torch's product.
    """

    def __init__(self, d: int) -> None:
        import torch

        from mllmshift.devices import current_device

        self.device = torch.device(current_device())
        if self.device.type == "cpu":
            self.acc: Any = np.zeros((d, d), dtype=np.float64)
        else:
            self.acc = torch.zeros((d, d), dtype=torch.float64, device=self.device)

    def add(self, block: Any) -> None:
        self.add_product(self.product(block))

    def product(self, block: Any, out: np.ndarray | None = None) -> Any:
        """A block's BᵀB (pure: blocks may be multiplied in several threads, then added in order); on the CPU
        into ``out`` when given (d × d of the block's dtype: the same syrk, nothing allocated)."""
        if self.device.type == "cpu":
            b = np.asarray(block)  # float32 from a source; an array's own dtype (as torch did)
            return b.T @ b if out is None or out.dtype != b.dtype else np.matmul(b.T, b, out=out)
        import torch

        t = torch.as_tensor(block, device=self.device)
        return (t.T @ t).double()

    def add_product(self, product: Any) -> None:
        self.acc += product

    def value(self) -> np.ndarray:
        return self.acc if isinstance(self.acc, np.ndarray) else self.acc.cpu().numpy()


def von_neumann_entropy(c: np.ndarray) -> float:
    """S(C) = −Σ λ ln λ over the positive eigenvalues of C / tr(C) (nats)."""
    lam = np.linalg.eigvalsh((c + c.T) / 2.0)
    lam = lam[lam > 0]
    lam = lam / lam.sum()
    return float(-(lam * np.log(lam)).sum())


def rjsd_from_grams(ga: np.ndarray, gb: np.ndarray, *, official_unnormalised: bool = False,
                    clip: bool = True) -> float:
    """RJSD from the two Gram matrices ZᵀZ (see the module docstring)."""
    if ga.shape != gb.shape:
        raise ValueError(f"the two samples must have the same dimension, got {ga.shape[0]} and {gb.shape[0]}")
    ta, tb = np.trace(ga), np.trace(gb)
    if ta <= 0 or tb <= 0:
        raise ValueError("a sample is all zeros; its covariance has no trace to normalise by")
    if official_unnormalised:
        mix = (ga + gb) / 2.0
    else:
        ga, gb = ga / ta, gb / tb
        mix = (ga + gb) / 2.0
    with one_blas_thread():
        value = von_neumann_entropy(mix) - 0.5 * (von_neumann_entropy(ga) + von_neumann_entropy(gb))
    if clip and value < 0.0:
        warnings.warn(f"RJSD estimate {value:.3g} < 0 from rounding; clipped to 0", RuntimeWarning, stacklevel=3)
        value = 0.0
    return float(value)


def _row_entropy(z: np.ndarray) -> float:
    """S(ZᵀZ / tr) from the n × n matrix ZZᵀ, which has the same non-zero eigenvalues (cheaper when n < d)."""
    return von_neumann_entropy(z @ z.T)


def _rjsd_dual(a: np.ndarray, b: np.ndarray, official_unnormalised: bool, clip: bool) -> float:
    """RJSD through the (n+m) × (n+m) row Gram: (C_A + C_B)/2 = WᵀW with W = [A/√(2 tr_A); B/√(2 tr_B)]."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ta, tb = float((a64 * a64).sum()), float((b64 * b64).sum())
    if ta <= 0 or tb <= 0:
        raise ValueError("a sample is all zeros; its covariance has no trace to normalise by")
    sa, sb = (1.0, 1.0) if official_unnormalised else (ta, tb)
    w = np.vstack([a64 / np.sqrt(2.0 * sa), b64 / np.sqrt(2.0 * sb)])
    value = _row_entropy(w) - 0.5 * (_row_entropy(a64) + _row_entropy(b64))
    if clip and value < 0.0:
        warnings.warn(f"RJSD estimate {value:.3g} < 0 from rounding; clipped to 0", RuntimeWarning, stacklevel=3)
        value = 0.0
    return float(value)


def rjsd(a: Any, b: Any, *, official_unnormalised: bool = False) -> float:
    """Representation JSD between samples ``a`` (n × d) and ``b`` (m × d), in nats.

    When n + m < d the eigenvalues come from the (n+m)-sized row Gram instead of the d × d
    covariance (same non-zero spectrum, exact up to rounding): for 36 samples of 1280-d image
    features that is three 72² instead of three 1280² eigen-decompositions.
    """
    a2, b2 = as_2d_float(a, "a"), as_2d_float(b, "b")
    if a2.shape[1] != b2.shape[1]:
        raise ValueError(f"the two samples must have the same dimension, got {a2.shape[1]} and {b2.shape[1]}")
    if len(a2) + len(b2) < a2.shape[1]:
        return _rjsd_dual(np.asarray(a2), np.asarray(b2), official_unnormalised, clip=not official_unnormalised)
    return rjsd_from_grams(gram(a2), gram(b2), official_unnormalised=official_unnormalised,
                           clip=not official_unnormalised)


class RJSD(DivergenceEstimator):
    """Linear-kernel representation JSD (trace-normalised), the paper's divergence estimator.

    Deterministic: ``seed`` is accepted (every divergence estimator is built the same way) and unused.
    """

    name = "rjsd"

    def __init__(self, official_unnormalised: bool = False, *, seed: int = 0) -> None:
        self.official_unnormalised = official_unnormalised

    def divergence(self, a: Any, b: Any) -> float:
        return rjsd(a, b, official_unnormalised=self.official_unnormalised)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "official_unnormalised": self.official_unnormalised}
