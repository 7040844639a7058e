r"""Cross-fitted MI estimators (``crossfit``): every pair is scored by a member that never saw it.

A trained estimator (a critic: ``infonce`` (the default base), ``nwj``, ``mine``, ``smile``; or CLUB's conditional
Gaussian: ``club``) fitted on the pooled pairs and evaluated on the same pairs has memorised them: on 60–1,000 pairs
per split InfoNCE then reaches its ceiling ln n on almost every split, and SMILE reported I(X;Ŷ) = 9.13 nats on
LLaVA-Bench's 90 pairs (ln 90 = 4.50: more than 90 pairs can support). Cross-fitting (as in double machine
learning) removes that over-fitting bias:

1. the distinct inputs are cut into K folds by **group** — ``groups`` given to :meth:`CrossFitMI.fit` (e.g. the
   sample ids, so every version of an item falls in one fold), else the input row itself (identical embeddings,
   such as one instruction answered by several models, form one group);
2. member k (seed ``derive_seed(seed, "crossfit", k)``) is fitted on the pairs of the other K − 1 folds;
3. on a sample :math:`\{(x_i, y_i)\}_{i=1}^n`, row i is scored by the member of its fold, against every y of the
   sample as usual: :math:`S_{ij} = T_{k(i)}(x_i, y_j)`, and the base estimator's bound is computed from this
   row-assembled score matrix (for InfoNCE: :math:`\frac1n\sum_i [S_{ii} - \log\frac1n\sum_j e^{S_{ij}}]`).
   CLUB's estimate is a mean of per-row terms
   :math:`\log q(y_i\mid x_i) - \frac1n\sum_j\log q(y_j\mid x_i)`, so row i takes :math:`q_{k(i)}`, the
   conditional of the member of its fold.

Rows whose input was not in the fit (a new model's splits, the same questions asked differently) are scored by
member ``digest mod K``, which never saw them either. The estimate is still capped by the base's ceiling (InfoNCE:
ln n), but a critic that must generalise does not identify every pair, so real data stay well below it; and it is
a held-out estimate, without the over-fitting bias of evaluating on the training pairs. Costs K fits.
:meth:`CrossFitMI.pointwise` (per-row contributions whose mean is the estimate, for every base) and the exact
bootstrap :meth:`CrossFitMI.mi_resampled` work on the assembled rows as the base's own do.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import torch

from mllmshift.errors import DataError
from mllmshift.estimators._checkpoint import load_torch_file, write_torch_file
from mllmshift.estimators.base import EstimatorOptionError, MIEstimator, check_pairs
from mllmshift.estimators.mi.infonce import InfoNCE, infonce_pointwise, infonce_weighted
from mllmshift.estimators.mi.rows import DIGEST_BYTES, row_digests
from mllmshift.estimators.mi.club import CLUB
from mllmshift.estimators.mi.scores import ScoreStats, by_replicate_blocks, pointwise_terms
from mllmshift.estimators.mi.variational import VariationalMI
from mllmshift.progress import Progress
from mllmshift.resampling import ResampleWeights
from mllmshift.workers import run_tasks

FORMAT = "mllmshift-crossfit-mi/1"


def crossfittable(cls: Any) -> bool:
    """Whether ``cls`` can be a cross-fitted estimator's base: a critic-based bound or CLUB (whose estimates
    are functions of per-row scores, so rows can be scored by different members)."""
    return isinstance(cls, type) and issubclass(cls, (VariationalMI, CLUB))


class CrossFitMI(MIEstimator):
    """K members of a trained estimator, each scoring the rows of the fold it was not trained on."""

    name = "crossfit"

    def __init__(self, x_dim: int, y_dim: int, *, base: str = "infonce", folds: int = 5, seed: int = 0,
                 device: str | torch.device | None = None, **base_options: Any) -> None:
        from mllmshift.estimators import mi_estimators
        from mllmshift.estimators.mi.club import CLUBConfig
        from mllmshift.provenance import derive_seed

        cls = mi_estimators.get(base)
        if not crossfittable(cls):
            raise ValueError(f"crossfit needs a trained base estimator (infonce, nwj, mine, smile, club), got {base!r}")
        if folds < 2:
            raise ValueError("folds must be at least 2")
        config_class = CLUBConfig if issubclass(cls, CLUB) else cls.config_class
        unknown = set(base_options) - {f.name for f in fields(config_class)} - {"device"}
        if unknown:
            raise EstimatorOptionError(f"estimator 'crossfit' does not take the options {sorted(unknown)}; it takes "
                                       f"base, folds and the options of its base '{base}'")
        if base_options.get("negatives") is not None:
            raise ValueError("crossfit scores every row against all others: leave the base's negatives unset")
        self.base, self.folds, self.seed = base, int(folds), int(seed)
        self.x_dim, self.y_dim = int(x_dim), int(y_dim)
        self.base_options = dict(base_options)
        self.members: list[Any] = [
            cls(x_dim, y_dim, seed=derive_seed(self.seed, "crossfit", k), device=device, **base_options)
            for k in range(self.folds)]
        self._fold_of: dict[bytes, int] = {}
        self.history: dict[str, Any] = {}

    # ----------------------------------------------------------------- fitting
    def fit(self, x: Any, y: Any, *, progress: Progress | None = None,
            groups: Sequence[Any] | None = None) -> CrossFitMI:
        """Assign groups to folds (seeded), fit member k on the other folds' pairs; returns self.

        The pipeline fits without ``groups`` (each distinct input row is a group); the real-data suite's
        ``crossfit-items`` row passes the sample ids."""
        xa, ya = check_pairs(x, y)
        digests = row_digests(xa)
        keys: list[Any] = list(digests) if groups is None else [str(g) for g in groups]
        if len(keys) != len(xa):
            raise ValueError(f"groups must give one label per pair: {len(keys)} labels for {len(xa)} pairs")
        distinct = sorted(set(keys))
        if len(distinct) < self.folds:
            raise ValueError(f"{len(distinct)} groups cannot fill {self.folds} folds")
        order = np.random.default_rng(self.seed).permutation(len(distinct))
        fold_of_key = {distinct[j]: pos % self.folds for pos, j in enumerate(order)}
        row_fold = np.fromiter((fold_of_key[k] for k in keys), dtype=np.int64, count=len(keys))
        self._fold_of = {}
        conflicts = 0
        for d, f in zip(digests, row_fold):
            if self._fold_of.setdefault(d, int(f)) != f:
                conflicts += 1
        def fit_member(k: int) -> Any:
            train = np.flatnonzero(row_fold != k)  # row indices (an on-disk source takes them, not a mask)
            return self.members[k].fit(xa[train], ya[train], progress=progress)

        if isinstance(self.members[0], CLUB) and isinstance(xa, np.ndarray) and isinstance(ya, np.ndarray):
            # CLUB fits touch no global state: on worker threads, the same numbers as one after the other
            run_tasks([lambda k=k: fit_member(k) for k in range(self.folds)])
        else:
            for k in range(self.folds):
                fit_member(k)
        self.history = {"n_groups": len(distinct), "fold_pairs": np.bincount(row_fold, minlength=self.folds).tolist(),
                        "inputs_in_several_folds": conflicts,
                        "members": [{k: v for k, v in m.history.items() if not isinstance(v, list)}
                                    for m in self.members]}
        return self

    def folds_of(self, x: Any) -> np.ndarray:
        """The fold (member index) that scores each input row: its fit fold, or ``digest mod K`` for unseen inputs."""
        out = []
        for d in row_digests(np.asarray(x)):
            f = self._fold_of.get(d)
            out.append(int.from_bytes(d[:4], "little") % self.folds if f is None else f)
        return np.asarray(out, dtype=np.int64)

    # -------------------------------------------------------------- estimation
    @property
    def _critic(self) -> bool:
        """Whether the members are critics (score matrices); else CLUB (conditional heads)."""
        return isinstance(self.members[0], VariationalMI)

    def _blocks(self, x: np.ndarray, y: np.ndarray) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Score blocks ``(rows, S[rows, :])`` of the row-assembled matrix, member by member."""
        fold = self.folds_of(x)
        return itertools.chain.from_iterable(
            m.score_rows(x, y, np.flatnonzero(fold == k)) for k, m in enumerate(self.members))

    def _chunks(self, x: np.ndarray, y: np.ndarray) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """The assembled blocks as ``(positives, negatives with −inf on the diagonal, n − 1)``."""
        n = len(x)
        for rows, sc in self._blocks(x, y):
            r, cols = torch.arange(len(rows)), torch.as_tensor(rows)
            yield sc[r, cols], sc.index_put((r, cols), torch.tensor(-float("inf"), dtype=sc.dtype)), n - 1

    def _heads(self, x: Any) -> Any:
        """CLUB heads ``(first row, x block) -> (μ, 1/σ²)``: each row's from the member of its fold."""
        fold = self.folds_of(np.asarray(x))
        head = self.members[0]

        def heads(start: int, xb: Any) -> tuple[torch.Tensor, torch.Tensor]:
            f = fold[start : start + len(xb)]
            mu = torch.empty((len(xb), self.y_dim), dtype=torch.float64, device=head.device)
            inv = torch.empty_like(mu)
            for k in np.unique(f):
                rows = torch.as_tensor(np.flatnonzero(f == k), device=head.device)
                # the member runs on the whole block, as a plain CLUB would (the same float rounding whatever
                # the fold mix of the block), and its fold's rows are kept
                m_k, i_k = self.members[int(k)]._heads(xb)
                mu[rows], inv[rows] = m_k[rows], i_k[rows]
            return mu, inv

        return heads

    def mi(self, x: Any, y: Any) -> float:
        """The base estimator's bound on the row-assembled scores (module docstring)."""
        xa, ya = check_pairs(x, y)
        n = len(xa)
        if not self._critic:
            return float(self.members[0]._resampled(xa, [ya], None, self._heads(xa))[0, 0])
        if n < 2:
            raise ValueError("a variational MI estimate needs at least 2 pairs (one positive, one negative)")
        head = self.members[0]
        tau = head._tau()
        stats: ScoreStats | None = None
        for pos, neg, k in self._chunks(xa, ya):
            part = ScoreStats.from_scores(pos, neg, tau, k)
            stats = part if stats is None else stats.merge(part)
        assert stats is not None
        return float(head._value(stats))

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        r"""Per-pair contributions whose mean is :meth:`mi`: the InfoNCE terms
        :math:`S_{ii} - \log\frac1n\sum_j e^{S_{ij}}`, the influence split of the other critics' bounds
        (:func:`~mllmshift.estimators.mi.scores.pointwise_terms`), CLUB's per-row terms with each row's member."""
        xa, ya = check_pairs(x, y)
        head = self.members[0]
        if isinstance(head, InfoNCE):
            return infonce_pointwise(self._blocks(xa, ya), len(xa))
        if not self._critic:
            return head._pointwise(xa, ya, self._heads(xa))
        if len(xa) < 2:
            raise ValueError("a variational MI estimate needs at least 2 pairs (one positive, one negative)")
        order = np.concatenate([rows for rows, _ in self._blocks(xa, ya)])
        terms = pointwise_terms(self._chunks(xa, ya), head._tau(), head._value)
        out = np.empty(len(xa))
        out[order] = terms
        return out

    def mi_resampled(self, x: Any, ys: Sequence[Any], weights: ResampleWeights) -> np.ndarray:
        """The estimates on B bootstrap replicates (len(ys) × B), exactly, from the assembled rows (InfoNCE:
        :func:`~mllmshift.estimators.mi.infonce.infonce_weighted`; other critics:
        :meth:`~mllmshift.estimators.mi.variational.VariationalMI.weighted_bound`; CLUB: its running sums)."""
        pairs = [check_pairs(x, y) for y in ys]
        head = self.members[0]
        if not self._critic:
            xa = pairs[0][0]
            if weights.n != len(xa):
                raise ValueError(f"weights are for {weights.n} rows, the sample has {len(xa)}")
            return head._resampled(xa, [ya for _, ya in pairs], weights, self._heads(xa))
        if isinstance(head, InfoNCE):
            fn = infonce_weighted
        else:
            fn = lambda blocks, w: head.weighted_bound(blocks, w)  # noqa: E731
        return np.stack([by_replicate_blocks(weights, len(xa), lambda w, xa=xa, ya=ya: fn(
            self._blocks(xa, ya), w)) for xa, ya in pairs])

    @property
    def dims(self) -> tuple[int, int]:
        return self.x_dim, self.y_dim

    def fit_summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.history.items() if not isinstance(v, list)}

    def ceiling(self, n: int) -> float | None:
        """The base estimator's ceiling on n pairs (InfoNCE: ln n)."""
        return self.members[0].ceiling(n)

    # ------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "folds": self.folds, "seed": self.seed, "x_dim": self.x_dim,
                "y_dim": self.y_dim, "base_options": dict(self.base_options)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Config, every member's weights and moments, and the input → fold table, in one torch file."""
        digests = list(self._fold_of)
        raw = torch.frombuffer(bytearray(b"".join(digests)), dtype=torch.uint8).view(-1, DIGEST_BYTES).clone() \
            if digests else torch.zeros((0, DIGEST_BYTES), dtype=torch.uint8)
        write_torch_file(path, {"format": FORMAT, "name": self.name, "config": self.config(),
                                "members": [m.payload() for m in self.members], "fold_digests": raw,
                                "fold": torch.as_tensor([self._fold_of[d] for d in digests], dtype=torch.int64),
                                "history": {k: v for k, v in self.history.items() if k != "members"}})

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device | None = None) -> CrossFitMI:
        obj = load_torch_file(path)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise DataError(f"not a {FORMAT} checkpoint", path=path)
        cfg = dict(obj["config"])
        est = cls(cfg["x_dim"], cfg["y_dim"], base=cfg["base"], folds=cfg["folds"], seed=cfg["seed"], device=device,
                  **cfg.get("base_options", {}))
        if len(obj["members"]) != est.folds:
            raise DataError(f"expected {est.folds} members, found {len(obj['members'])}", path=path, field="members")
        est.members = [type(m).from_payload(payload, path, device) for m, payload in zip(est.members, obj["members"])]
        digests, fold = obj["fold_digests"], obj["fold"]
        est._fold_of = {bytes(r.tolist()): int(f) for r, f in zip(digests, fold)}
        est.history = dict(obj.get("history") or {})
        return est
