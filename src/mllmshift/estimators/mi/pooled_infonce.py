r"""InfoNCE scored against a fixed bank of negatives from the pooled training answers (``infonce-pooled``).

The critic :math:`T(x, y) = f(x)^\top g(y)` is trained exactly as :class:`~mllmshift.estimators.mi.infonce.InfoNCE`'s
(in-batch negatives, early stopping). What changes is the evaluation. Plain InfoNCE scores a split's pair
:math:`(x_i, y_i)` against the split's own other answers, so on n pairs it can never exceed ln n: on 80–90-item
benchmarks every MI sits at that ceiling and EMI compares nothing. Here, at ``fit``, the distinct answers of the
pooled pairs (every split's Ŷ and Y; at most ``bank_size`` of them, a seeded subsample beyond) become a **bank**
:math:`B` of M negatives, fixed from then on, and a split is scored pair by pair against it:

.. math::

    \hat\imath_i = T(x_i, y_i) - \log\frac{1}{1+M_i}\Big(e^{T(x_i,y_i)} + \sum_{b\in B\setminus\{y_i\}} e^{T(x_i,b)}\Big),
    \qquad \hat I = \frac1n\sum_i \hat\imath_i \;\le\; \ln(1+M),

with :math:`M_i = |B\setminus\{y_i\}|` (a bank entry equal to the scored answer itself is left out, so a split
scores the same whether or not it was in the pool). Consequences:

- the ceiling is ln(1 + M) for every split (7–10 nats for pools of 10³–10⁴ answers), not ln n;
- the estimate is a mean of **pointwise** terms (:meth:`PooledInfoNCE.pointwise`) whose normaliser depends on
  :math:`x_i` and the bank only, so splits of any size are comparable, the EMI of a subset is the mean of its
  rows' terms, and in EMI = Î(X;Ŷ) − Î(X;Y) the normaliser nearly cancels: EMI ≈ the mean critic-score
  advantage :math:`T(x_i,\hat y_i) - T(x_i, y_i)` of the model's answers over the references, the learned
  log-density-ratio analogue of a pairwise judge;
- the bootstrap is exact and free: :meth:`PooledInfoNCE.mi_resampled` is a weighted mean of the pointwise terms.

The bank holds answers to the same questions as the split (other models', the references), which are not
independent of :math:`x_i`: as negatives they lower every estimate alike, so Î is a ranking score on the pool's
scale rather than an MI lower bound. Only the separable critic is supported (the bank is stored as its g-embeddings).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mllmshift.errors import DataError
from mllmshift.estimators.base import check_pairs
from mllmshift.estimators.mi.infonce import InfoNCE
from mllmshift.estimators.mi.rows import DIGEST_BYTES, row_digests
from mllmshift.estimators.mi.scores import by_replicate_blocks
from mllmshift.estimators.mi.variational import VariationalConfig
from mllmshift.progress import Progress
from mllmshift.resampling import ResampleWeights


@dataclass(frozen=True)
class PooledInfoNCEConfig(VariationalConfig):
    """:class:`VariationalConfig` plus ``bank_size``: the most pooled answers kept as negatives."""

    bank_size: int = 16384


class PooledInfoNCE(InfoNCE):
    """InfoNCE evaluated against a fixed bank of pooled answers; ceiling ln(1 + M) for every split."""

    name = "infonce-pooled"
    config_class = PooledInfoNCEConfig

    def __init__(self, x_dim: int, y_dim: int, **options: Any) -> None:
        super().__init__(x_dim, y_dim, **options)
        if self.cfg.critic != "separable":
            raise ValueError("infonce-pooled needs the separable critic (the bank is kept as g-embeddings)")
        if self.cfg.bank_size < 1:  # type: ignore[attr-defined]
            raise ValueError("bank_size must be at least 1")
        self._bank: torch.Tensor | None = None  # g(standardised bank answers), M × embed_dim
        self._bank_index: dict[bytes, int] = {}

    # ----------------------------------------------------------------- fitting
    def fit(self, x: Any, y: Any, *, progress: Progress | None = None) -> PooledInfoNCE:
        """Train the critic as InfoNCE does, then keep the distinct answers of ``y`` as the bank."""
        super().fit(x, y, progress=progress)
        _, ya = check_pairs(x, y)
        self.set_bank(ya)
        return self

    def set_bank(self, answers: Any) -> None:
        """Make the distinct rows of ``answers`` (at most ``bank_size``, a seeded subsample) the negatives."""
        ya = np.asarray(answers, dtype=np.float32)
        if ya.ndim != 2 or ya.shape[1] != self.cfg.y_dim:
            raise ValueError(f"bank answers must be (M, {self.cfg.y_dim}), got {ya.shape}")
        first: dict[bytes, int] = {}
        for i, d in enumerate(row_digests(ya)):
            first.setdefault(d, i)
        digests, rows = list(first), np.fromiter(first.values(), dtype=np.int64, count=len(first))
        sel = np.arange(len(rows))
        limit = int(self.cfg.bank_size)  # type: ignore[attr-defined]
        if len(rows) > limit:
            sel = np.sort(np.random.default_rng(self.cfg.seed).choice(len(rows), size=limit, replace=False))
        keep, kept_digests = rows[sel], [digests[j] for j in sel]
        with torch.no_grad():
            self.critic.eval()
            self._bank = self.critic.g(self._tensor(ya[keep], self._y_moments)).detach()  # type: ignore[operator]
        self._bank_index = {d: j for j, d in enumerate(kept_digests)}

    @property
    def bank_size(self) -> int:
        """M, the number of negatives in the bank (0 before ``fit``)."""
        return 0 if self._bank is None else int(self._bank.shape[0])

    # -------------------------------------------------------------- estimation
    def ceiling(self, n: int) -> float:
        """ln(1 + M) whatever the split's size n."""
        return math.log(1 + self.bank_size)

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        """The terms :math:`\\hat\\imath_i` of the module docstring, one per pair (float64)."""
        if self._bank is None:
            raise RuntimeError("infonce-pooled has no bank yet: fit it (or load a fitted one) first")
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        own = [self._bank_index.get(d, -1) for d in row_digests(ya)]
        self.critic.eval()
        out = np.empty(len(xa))
        chunk = self.cfg.chunk_size
        bank = self._bank
        m = bank.shape[0]
        with torch.no_grad():
            for s in range(0, len(xa), chunk):
                fx = self.critic.f(self._tensor(xa[s : s + chunk], self._x_moments))  # type: ignore[operator]
                gy = self.critic.g(self._tensor(ya[s : s + chunk], self._y_moments))  # type: ignore[operator]
                pos = (fx * gy).sum(dim=1).double()
                sc = (fx @ bank.T).double()
                rows = torch.arange(len(fx))
                mine = torch.as_tensor(own[s : s + len(fx)])
                hit = mine >= 0
                sc[rows[hit], mine[hit]] = -math.inf
                k = m - hit.double()
                lse = torch.logaddexp(pos, torch.logsumexp(sc, dim=1))
                out[s : s + len(fx)] = (pos - lse + torch.log1p(k)).numpy()
        return out

    def mi(self, x: Any, y: Any) -> float:
        """The mean of :meth:`pointwise`."""
        return float(self.pointwise(x, y).mean())

    def mi_resampled(self, x: Any, ys: Sequence[Any], weights: ResampleWeights) -> np.ndarray:
        """Î on B bootstrap replicates (len(ys) × B): each a weighted mean of :meth:`pointwise`."""
        terms = [self.pointwise(x, y) for y in ys]
        return np.stack([by_replicate_blocks(weights, len(t), lambda w, t=t: w @ t) for t in terms])

    # ------------------------------------------------------------ persistence
    def _extra_state(self) -> dict[str, Any]:
        if self._bank is None:
            return {}
        digests = sorted(self._bank_index, key=self._bank_index.__getitem__)
        raw = torch.frombuffer(bytearray(b"".join(digests)), dtype=torch.uint8).view(-1, DIGEST_BYTES)
        return {"bank": self._bank.detach().cpu(), "bank_digests": raw.clone()}

    def _load_extra_state(self, extra: dict[str, Any], path: str | os.PathLike[str]) -> None:
        if not extra:
            return
        bank, digests = extra.get("bank"), extra.get("bank_digests")
        if not isinstance(bank, torch.Tensor) or not isinstance(digests, torch.Tensor) or bank.ndim != 2 \
                or bank.shape[1] != self.cfg.embed_dim or tuple(digests.shape) != (bank.shape[0], DIGEST_BYTES):
            raise DataError("the negative bank is missing or malformed", path=path, field="extra.bank")
        self._bank = bank.to(self.device)
        self._bank_index = {bytes(r.tolist()): j for j, r in enumerate(digests)}
