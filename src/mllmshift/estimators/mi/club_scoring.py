r"""CLUB's scoring pass, in pieces another reader can drive: the network's heads, the running sums, a scorer.

:meth:`CLUB.mi_resampled <mllmshift.estimators.mi.club.CLUB.mi_resampled>` owns the formula; this module
holds its sums (:class:`RunningSums`), the network's forward pass with the heads' first layers as one product
(:func:`fused_forward`), and :class:`CLUBScorer`, which takes blocks of rows from a caller that reads them
for other sums too (:mod:`mllmshift.onepass`: the EMIs and the bound's Gram matrices from one read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from mllmshift.estimators.mi.club import CLUB


def fused_forward(net: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(μ, log σ²)`` of a CLUB network (``p_mu``: Linear, Tanh, Linear; ``p_logvar``: the same and a Tanh),
    the two heads' first layers as one product x [W_μ; W_σ]ᵀ of width ``hidden`` instead of two of width
    ``hidden/2``: a quarter less CPU for the network in a scoring pass (2.4 vs 3.2 CPU s per 100,000 rows of
    d = 768, hidden 500, one thread; issue #23), the same values to float32 rounding
    (tests/estimators/test_club_scoring.py)."""
    mu0, lv0 = net.p_mu[0], net.p_logvar[0]
    h = torch.tanh(torch.addmm(torch.cat([mu0.bias, lv0.bias]), x, torch.cat([mu0.weight, lv0.weight]).T))
    k = mu0.out_features
    return net.p_mu[2](h[:, :k]), torch.tanh(net.p_logvar[2](h[:, k:]))


class RunningSums:
    r"""The running sums of :meth:`CLUB.mi_resampled` for ``n_ys`` y-samples and ``b`` replicates (float64, on
    ``device``): W, A = Σ c/σ², B = Σ c μ/σ², C = Σ c μ²/σ² and, per y, m = Σ c y, s = Σ c y², P = Σ c p
    (the formula is :meth:`CLUB.mi_resampled`'s)."""

    def __init__(self, n_ys: int, b: int, d: int, device: torch.device) -> None:
        z = lambda *shape: torch.zeros(*shape, dtype=torch.float64, device=device)  # noqa: E731
        self.device = device
        self.total, self.a, self.b, self.c = z(b), z(b, d), z(b, d), z(b, d)
        self.m, self.s, self.p = [z(b, d) for _ in range(n_ys)], [z(b, d) for _ in range(n_ys)], [z(b) for _ in
                                                                                                  range(n_ys)]

    def add(self, weights: np.ndarray | None, mu: torch.Tensor, inv: torch.Tensor, yb: Sequence[torch.Tensor]) -> None:
        """One block: ``weights`` (B × rows multiplicities, None: every pair 1), μ, 1/σ², the y blocks."""
        self.accumulate(self.terms(weights, mu, inv, yb, self.device))

    @staticmethod
    def terms(weights: np.ndarray | None, mu: torch.Tensor, inv: torch.Tensor, yb: Sequence[torch.Tensor],
              device: torch.device) -> list[torch.Tensor]:
        """One block's terms of the sums, in :meth:`accumulate`'s order (computable in any thread; adding them
        block by block in row order gives the same sums, bit for bit, as :meth:`add`)."""
        if weights is None:
            w = torch.ones(1, len(mu), dtype=torch.float64, device=device)
        else:
            w = torch.as_tensor(weights, device=device)
        out = [w.sum(dim=1), w @ inv, w @ (mu * inv), w @ (mu * mu * inv)]
        for y in yb:
            out += [w @ y, w @ (y * y), w @ ((y - mu) ** 2 * inv).sum(dim=1)]
        return out

    def accumulate(self, terms: Sequence[torch.Tensor]) -> None:
        """Add one block's :meth:`terms`."""
        self.total += terms[0]
        self.a += terms[1]
        self.b += terms[2]
        self.c += terms[3]
        for k in range(len(self.m)):
            self.m[k] += terms[4 + 3 * k]
            self.s[k] += terms[5 + 3 * k]
            self.p[k] += terms[6 + 3 * k]

    def values(self) -> np.ndarray:
        """(n_ys × B) estimates."""
        t = self.total
        out = [0.5 * (s * self.a - 2.0 * m * self.b + self.c * t[:, None]).sum(dim=1) / t**2 - 0.5 * p / t
               for m, s, p in zip(self.m, self.s, self.p)]
        return torch.stack(out).cpu().numpy()


class CLUBScorer:
    """:meth:`CLUB.mi_many` fed from outside: :meth:`terms` of each chunk of ``chunk_size`` rows (x float32 and
    each y's rows; pure, so chunks may be computed in several threads at once), :meth:`accumulate` of them in
    row order from row 0 (then the sums are those of :meth:`CLUB.mi_many` exactly), :meth:`values` at the end.
    :meth:`add` does both for consecutive blocks of whole chunks."""

    def __init__(self, est: CLUB, n_ys: int) -> None:
        self.est, self.n_ys = est, n_ys
        self.sums = RunningSums(n_ys, 1, est.cfg.y_dim, est.device)

    def terms(self, xb: np.ndarray, ybs: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """The sums' terms of one chunk (at most ``chunk_size`` rows)."""
        if len(ybs) != self.n_ys:
            raise ValueError(f"expected {self.n_ys} y blocks, got {len(ybs)}")
        est = self.est
        with torch.no_grad():  # per thread: the grad mode is thread-local
            mu, inv = est._heads(xb)
            return RunningSums.terms(None, mu, inv, [torch.as_tensor(y, device=est.device).double() for y in ybs],
                                     est.device)

    def accumulate(self, terms: Sequence[torch.Tensor]) -> None:
        self.sums.accumulate(terms)

    @property
    def packed_size(self) -> int:
        """Length of :meth:`terms_into`'s row: W, A, B, C and m, s, P per y."""
        d = self.est.cfg.y_dim
        return 1 + 3 * d + self.n_ys * (2 * d + 1)

    def terms_into(self, xb: np.ndarray, ybs: Sequence[np.ndarray], out: torch.Tensor) -> torch.Tensor:
        """:meth:`terms` copied into ``out`` (float64, :attr:`packed_size`): a caller that holds a chunk's terms
        until their turn keeps them in its own buffer, not in small tensors that would split the allocator's
        freed blocks (issue #23: 1 GB more peak memory in a pass over 100,000 rows of d = 768)."""
        at = 0
        for t in self.terms(xb, ybs):
            out[at : at + t.numel()].copy_(t.reshape(-1))
            at += t.numel()
        return out

    def accumulate_packed(self, row: torch.Tensor) -> None:
        """Add one chunk's :meth:`terms_into` row (the same sums as :meth:`accumulate`, bit for bit)."""
        d, at, parts = self.est.cfg.y_dim, 0, []
        for size in [1, d, d, d] + [d, d, 1] * self.n_ys:
            parts.append(row[at : at + size].reshape(1, size) if size > 1 else row[at : at + 1])
            at += size
        self.accumulate(parts)

    def add(self, xb: np.ndarray, ybs: Sequence[np.ndarray]) -> None:
        """Chunks of ``chunk_size`` rows of a block, scored and added in order."""
        step = self.est.cfg.chunk_size
        for s in range(0, len(xb), step):
            self.accumulate(self.terms(xb[s : s + step], [y[s : s + step] for y in ybs]))

    def values(self) -> list[float]:
        return [float(v) for v in self.sums.values()[:, 0]]
