r"""Shared machinery of the critic-based variational MI lower bounds.

A critic :math:`T(x, y)` (see :mod:`~mllmshift.estimators.mi.critics`) is scored
on *positive* pairs :math:`(x_i, y_i)` drawn from the joint and on *negative*
pairs :math:`(x_i, y_j), j \ne i`, which stand in for the product of the
marginals. Every bound in this package is a function of four statistics of those
scores (:class:`~mllmshift.estimators.mi.scores.ScoreStats`, where they are defined).

``fit(x, y)`` holds out ``val_fraction`` of the pairs, trains the critic with
Adam on mini-batches (negatives: the other samples of the batch) to maximise the
estimator's objective, evaluates the bound on the held-out pairs every
``eval_every`` steps and keeps the best critic (early stopping after
``patience`` evaluations without improvement). Inputs are standardised with
the training mean and standard deviation first (an invertible affine map per
coordinate, so the MI is unchanged). ``mi(x, y)`` evaluates the bound on the
given sample with every other sample as a negative (all n(n−1) pairs, in row
chunks of ``chunk_size``) or, with ``negatives=K``, K random other samples per
row. Everything is deterministic for a seed.
"""

from __future__ import annotations

import math
import os
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mllmshift.estimators._batches import Rows, Transform, column_moments
from mllmshift.errors import DataError
from mllmshift.estimators._checkpoint import read_torch_checkpoint, torch_checkpoint, write_torch_file
from mllmshift.estimators._adam import Adam
from mllmshift.estimators._training import default_device, holdout_split, seeded_torch, train_early_stopping
from mllmshift.estimators.base import Bound, MIEstimator, check_pairs, make_config
from mllmshift.estimators.mi.critics import Critic, make_critic
from mllmshift.estimators.mi.scores import ScoreStats, by_replicate_blocks, pointwise_terms, split_diagonal
from mllmshift.progress import Progress
from mllmshift.resampling import ResampleWeights

FORMAT = "mllmshift-variational-mi/1"
#: the most critic scores (row chunk × n) evaluated at a time when scoring all pairs
SCORE_BLOCK = 2**24


@dataclass(frozen=True)
class VariationalConfig:
    """Hyper-parameters of a critic-based estimator (with the seed, they reproduce a fit).

    Attributes:
        critic: ``"separable"`` (f(x)ᵀg(y)) or ``"joint"`` (MLP on [x; y]).
        hidden_size, n_layers, embed_dim: critic MLP width, depth, and (separable) embedding size.
        lr, batch_size, max_steps: Adam learning rate, pairs per step, step budget.
        eval_every, patience: held-out evaluation period (steps) and early-stopping patience (evaluations).
        val_fraction: share of pairs held out for early stopping.
        negatives: None for every other sample (of the batch in training, of the sample in ``mi``);
            an int K for K random other samples per row (what makes joint critics affordable).
        chunk_size: rows of the n × n score matrix evaluated at a time.
        standardize: z-score inputs with the training moments.
    """

    #: option ranges beyond the defaults (counts >= 1, floats >= 0): patience may be 0, the learning rate > 0
    constraints: ClassVar[dict[str, Bound]] = {"patience": Bound(0), "lr": Bound(0, open=True)}

    x_dim: int
    y_dim: int
    critic: str = "separable"
    hidden_size: int = 128
    n_layers: int = 2
    embed_dim: int = 32
    seed: int = 0
    lr: float = 5e-4
    batch_size: int = 256
    max_steps: int = 2000
    eval_every: int = 50
    patience: int = 10
    val_fraction: float = 0.2
    negatives: int | None = None
    chunk_size: int = 1024
    standardize: bool = True


class VariationalMI(MIEstimator):
    """Base class of InfoNCE, NWJ, MINE and SMILE: a trained critic and a bound on its scores."""

    config_class: ClassVar[type[VariationalConfig]] = VariationalConfig

    def __init__(self, x_dim: int | None, y_dim: int | None, *, seed: int = 0,
                 device: str | torch.device | None = None, **options: Any) -> None:
        if x_dim is None or y_dim is None:
            raise ValueError(f"{type(self).__name__} needs x_dim and y_dim (its critic has fixed sizes)")
        self.cfg = make_config(self.config_class, self.name, x_dim=int(x_dim), y_dim=int(y_dim), seed=int(seed),
                               **options)
        cfg = self.cfg
        if not 0.0 < cfg.val_fraction < 1.0:
            raise ValueError("val_fraction must be in (0, 1): the held-out pairs drive early stopping")
        if cfg.negatives is not None and cfg.negatives < 1:
            raise ValueError("negatives must be None (all) or a positive number")
        self.device = default_device(device)
        with seeded_torch(cfg.seed):
            self.critic: Critic = make_critic(cfg.critic, cfg.x_dim, cfg.y_dim, cfg.hidden_size, cfg.n_layers,
                                              cfg.embed_dim).to(self.device)
        self.critic.eval()
        self._x_moments = (np.zeros(cfg.x_dim), np.ones(cfg.x_dim))
        self._y_moments = (np.zeros(cfg.y_dim), np.ones(cfg.y_dim))
        self.history: dict[str, Any] = {}

    @property
    def dims(self) -> tuple[int, int]:
        return self.cfg.x_dim, self.cfg.y_dim

    # ------------------------------------------------------------ the bound
    def _tau(self) -> float | None:
        """Clip level of negative scores in :attr:`ScoreStats.neg_lse_clip` (SMILE only)."""
        return None

    @abstractmethod
    def _value(self, stats: ScoreStats) -> torch.Tensor:
        """The bound from score statistics (differentiable)."""

    def _objective(self, stats: ScoreStats, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """What training maximises on a batch; the bound itself unless a subclass changes its gradient.

        ``neg`` may hold −inf where a pair is not a negative (see :meth:`ScoreStats.from_scores`).
        """
        return self._value(stats)

    def _reset_training_state(self) -> None:
        """Called at the start of :meth:`fit` (MINE resets its moving average here)."""

    # ---------------------------------------------------------------- scores
    def _tensor(self, a: np.ndarray, moments: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
        mean, std = moments
        return torch.as_tensor((a - mean) / std, dtype=torch.float32, device=self.device)

    def _standardisers(self) -> list[Transform]:
        (mx, sx), (my, sy) = self._x_moments, self._y_moments
        return [lambda a: (a - mx) / sx, lambda a: (a - my) / sy]

    def _rows(self, x: Any, y: Any, index: np.ndarray | None = None) -> Rows:
        """Standardised rows ``index`` (default: all) of the pairs (x, y), arrays or sources, checked."""
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        self.critic.eval()
        return Rows([xa, ya], np.arange(len(xa)) if index is None else index, self.device, self._standardisers())

    def _all_negatives(self, n: int) -> bool:
        """Whether estimates on n pairs score every other sample as a negative (else K random ones)."""
        k = self.cfg.negatives
        return k is None or k >= n - 1

    def _row_chunk(self, n: int) -> int:
        """Rows scored at a time against all n: ``chunk_size``, fewer when a chunk × n score block would pass
        :data:`SCORE_BLOCK` entries (so memory stays bounded for large n)."""
        return max(1, min(self.cfg.chunk_size, SCORE_BLOCK // max(1, n)))

    def _score_matrix(self, x: torch.Tensor, y: torch.Tensor, gy: torch.Tensor | None) -> torch.Tensor:
        """T(x_i, y_j) of a row chunk ``x`` against every y (``gy``: the separable critic's g(y), precomputed)."""
        return self.critic.f(x) @ gy.T if gy is not None else self.critic.cross(x, y)  # type: ignore[operator]

    def _batch_scores(self, x: torch.Tensor, y: torch.Tensor,
                      gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(positives (m), negatives (m × ·), negatives per row) of a batch: all other rows, or K random ones."""
        m = len(x)
        k = self.cfg.negatives
        if k is None or k >= m - 1:
            return (*split_diagonal(self.critic.cross(x, y), 0), m - 1)
        pos = self.critic.pairs(x, y)
        offsets = torch.randperm(m - 1, generator=gen)[:k] + 1
        idx = (torch.arange(m)[:, None] + offsets[None, :]) % m
        neg = self.critic.pairs(x.repeat_interleave(k, dim=0), y[idx.reshape(-1).to(y.device)]).view(m, k)
        return pos, neg, k

    def _all_y(self, rows: Rows) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every y of ``rows`` for the all-pairs scores: g(y) (n × embed_dim) for a separable critic, else y."""
        chunk = self.cfg.chunk_size
        if self.critic.separable:
            return torch.empty(0), torch.cat([self.critic.g(yb) for _, yb in rows.chunks(chunk)])  # type: ignore
        return torch.cat([yb for _, yb in rows.chunks(chunk)]), None

    def _chunk_scores(self, rows: Rows, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """(positives, negatives, negatives per row) of a whole sample, row chunk by row chunk, no gradients.

        With every other sample as a negative, the y side is held as g(y) (n × embed_dim; a joint critic holds
        y itself) and x is read a row chunk at a time; with K negatives both are read per chunk."""
        n = len(rows)
        if n < 2:
            raise ValueError("a variational MI estimate needs at least 2 pairs (one positive, one negative)")
        k = self.cfg.negatives
        with torch.no_grad():
            if self._all_negatives(n):
                y_all, gy = self._all_y(rows)
                chunk = self._row_chunk(n)
                for s, (xb, _) in zip(range(0, n, chunk), rows.chunks(chunk)):
                    yield (*split_diagonal(self._score_matrix(xb, y_all, gy), s), n - 1)
            else:
                assert k is not None
                gen = torch.Generator().manual_seed(seed)
                offsets = (torch.randperm(n - 1, generator=gen)[:k] + 1).numpy()
                chunk = self.cfg.chunk_size
                for s, (xb, yb) in zip(range(0, n, chunk), rows.chunks(chunk)):
                    r = np.arange(s, s + len(xb))
                    idx = (r[:, None] + offsets[None, :]) % n
                    pos = self.critic.pairs(xb, yb)
                    yn = rows.batch(idx.reshape(-1))[1]
                    neg = self.critic.pairs(xb.repeat_interleave(k, dim=0), yn).view(len(r), k)
                    yield pos, neg, k

    def _sample_stats(self, rows: Rows, seed: int) -> ScoreStats:
        """Score statistics of a whole sample, without gradients, in row chunks."""
        tau = self._tau()
        stats: ScoreStats | None = None
        for pos, neg, k in self._chunk_scores(rows, seed):
            part = ScoreStats.from_scores(pos, neg, tau, k)
            stats = part if stats is None else stats.merge(part)
        assert stats is not None
        return stats

    # ---------------------------------------------------------------- fitting
    def fit(self, x: Any, y: Any, *, progress: Progress | None = None) -> VariationalMI:
        """Train the critic on the pairs (x, y), early-stopped on a held-out part; returns self."""
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        cfg = self.cfg
        val_idx, tr_idx = holdout_split(len(xa), cfg.val_fraction, cfg.seed, min_val=2)
        if cfg.standardize:
            self._x_moments = column_moments(xa, tr_idx, cfg.chunk_size)
            self._y_moments = column_moments(ya, tr_idx, cfg.chunk_size)
        train = Rows([xa, ya], tr_idx, self.device, self._standardisers())
        val = Rows([xa, ya], val_idx, self.device, self._standardisers())

        gen = torch.Generator().manual_seed(cfg.seed)
        self._reset_training_state()
        with seeded_torch(cfg.seed):
            opt = Adam(self.critic.parameters(), lr=cfg.lr)
        m = min(cfg.batch_size, len(tr_idx))
        batches = {"perm": torch.randperm(len(tr_idx), generator=gen), "cursor": 0}

        def step() -> float:
            if batches["cursor"] + m > len(batches["perm"]):
                batches["perm"], batches["cursor"] = torch.randperm(len(tr_idx), generator=gen), 0
            b = batches["perm"][batches["cursor"] : batches["cursor"] + m]
            batches["cursor"] += m
            pos, neg, k = self._batch_scores(*train.batch(b), gen)
            loss = -self._objective(ScoreStats.from_scores(pos, neg, self._tau(), k), pos, neg)
            if not torch.isfinite(loss):
                return math.nan
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.detach())

        log = train_early_stopping(self.critic, step, lambda: float(self._value(self._sample_stats(val, cfg.seed))),
                                   max_steps=cfg.max_steps, eval_every=cfg.eval_every, patience=cfg.patience,
                                   higher_is_better=True, progress=progress, desc=f"fit {self.name}", unit="step",
                                   score="MI bound (nats)")
        self.history = {"val_bound": log.val_curve, "best_val_bound": log.best_value, "best_step": log.best_step,
                        "steps_run": log.steps_run, "stopped_by": log.stopped_by, "n_train": len(tr_idx),
                        "n_val": len(val_idx)}
        return self

    def fit_summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.history.items() if not isinstance(v, list)}

    # ------------------------------------------------------------- estimation
    def mi(self, x: Any, y: Any) -> float:
        """The bound on the sample (x, y) with the trained critic (see the module docstring)."""
        return float(self._value(self._sample_stats(self._rows(x, y), self.cfg.seed)))

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        """Per-pair contributions whose mean is :meth:`mi` exactly: the bound's influence split
        (:func:`~mllmshift.estimators.mi.scores.pointwise_terms`; InfoNCE's are its own per-row terms)."""
        return pointwise_terms(self._chunk_scores(self._rows(x, y), self.cfg.seed), self._tau(), self._value)

    def mi_resampled(self, x: Any, ys: Sequence[Any], weights: ResampleWeights) -> np.ndarray:
        r"""The bound on B bootstrap replicates, as a (len(ys) × B) array.

        Replicate b weighs the positive pair i by its multiplicity (normalised, :math:`w_i`) and the negative
        pair :math:`(i, j), i \ne j` by :math:`w_i w_j` (normalised by :math:`\sum_{i\ne j} w_i w_j`), so the
        copies of a pair drawn twice are never each other's negatives; at uniform weights this is :meth:`mi`. One
        pass of score rows serves a block of replicates. With ``negatives=K`` each replicate is re-estimated
        (:meth:`MIEstimator.mi_resampled`); InfoNCE has its own formula.
        """
        if not self._all_negatives(len(x)):
            return super().mi_resampled(x, ys, weights)
        return np.stack([by_replicate_blocks(weights, len(x), lambda w, y=y: self._resampled_block(x, y, w))
                         for y in ys])

    def _resampled_block(self, x: Any, y: Any, w: np.ndarray) -> np.ndarray:
        """The bound for each row of the normalised weights ``w`` (b × n), as :meth:`mi_resampled` says."""
        return self.weighted_bound(self.score_rows(x, y, np.arange(len(x))), w)

    def weighted_bound(self, blocks: Iterable[tuple[np.ndarray, torch.Tensor]], w: np.ndarray) -> np.ndarray:
        """:meth:`_resampled_block` from score blocks ``(rows, S[rows, :])`` covering every row once (the
        positive of row i in column i): this estimator's own (:meth:`score_rows`) or a cross-fitted
        estimator's row-assembled ones."""
        dev = self.device
        wt = torch.as_tensor(w, dtype=torch.float64, device=dev)
        tau = self._tau()
        pos = torch.zeros(len(w), dtype=torch.float64, device=dev)
        lse = torch.full((len(w),), -math.inf, dtype=torch.float64, device=dev)
        lse_clip = lse.clone()
        for rows, sc in blocks:
            r, cols = torch.arange(len(rows), device=dev), torch.as_tensor(rows, device=dev)
            wb = wt[:, cols]
            pos += wb @ sc[r, cols]
            for acc, scores in ((lse, sc), (lse_clip, sc if tau is None else sc.clamp(-tau, tau))):
                top = scores.max()
                ex = torch.exp(scores - top)
                ex[r, cols] = 0.0  # a pair is not its own negative
                part = torch.log((wb * (wt @ ex.T)).sum(dim=1)) + top
                acc.copy_(torch.logaddexp(acc, part))
        count = 1.0 - (wt * wt).sum(dim=1)  # Σ_{i≠j} w_i w_j
        out = np.empty(len(w))
        for b in range(len(w)):
            stats = ScoreStats(1, pos[b], torch.tensor(math.nan), lse[b], lse_clip[b], float(count[b]))  # type: ignore
            out[b] = float(self._value(stats))
        return out

    def score_rows(self, x: Any, y: Any, rows: np.ndarray) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Critic scores :math:`T(x_i, y_j)` of the rows ``i ∈ rows`` against every ``y_j`` of the sample.

        Yields ``(row_indices, scores)`` blocks of row chunks, scores as a float64 (rows × n) tensor on the
        estimator's device; the positive of row ``i`` sits in column ``i``. No gradients.
        """
        rows = np.asarray(rows, dtype=np.int64)
        every = self._rows(x, y)
        some = self._rows(x, y, rows)
        with torch.no_grad():
            y_all, gy = self._all_y(every)
            chunk = self._row_chunk(len(every))
            for s, (xb, _) in zip(range(0, len(rows), chunk), some.chunks(chunk)):
                yield rows[s : s + len(xb)], self._score_matrix(xb, y_all, gy).double()

    # ------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Config, critic weights, input moments and scalar history (readable with ``weights_only=True``)."""
        write_torch_file(path, self.payload())

    def payload(self) -> dict[str, Any]:
        """The checkpoint dict :meth:`save` writes (also a member's part of a cross-fitted estimator's file)."""
        return torch_checkpoint(format=FORMAT, name=self.name, config=asdict(self.cfg),
                                state_dict=self.critic.state_dict(), history=self.history,
                                moments={"x": [torch.as_tensor(a) for a in self._x_moments],
                                         "y": [torch.as_tensor(a) for a in self._y_moments]},
                                extra=self._extra_state())

    def _extra_state(self) -> dict[str, Any]:
        """Fitted state besides the critic and the moments (tensors or scalars) that a subclass saves."""
        return {}

    def _load_extra_state(self, extra: dict[str, Any], path: str | os.PathLike[str]) -> None:
        """Restore what :meth:`_extra_state` saved (``path`` for error messages)."""

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device | None = None) -> VariationalMI:
        return cls.from_payload(read_torch_checkpoint(path, FORMAT, cls.name), path, device)

    @classmethod
    def from_payload(cls, obj: dict[str, Any], path: str | os.PathLike[str],
                     device: str | torch.device | None = None) -> VariationalMI:
        """The estimator :meth:`payload` described (``path`` names the file in errors)."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("name") != cls.name:
            raise DataError(f"not a {FORMAT} checkpoint of a '{cls.name}' estimator", path=path)
        cfg = dict(obj["config"])
        est = cls(cfg.pop("x_dim"), cfg.pop("y_dim"), device=device, **cfg)
        est.critic.load_state_dict(obj["state_dict"])
        est.critic.eval()
        est._x_moments = tuple(t.numpy() for t in obj["moments"]["x"])  # type: ignore[assignment]
        est._y_moments = tuple(t.numpy() for t in obj["moments"]["y"])  # type: ignore[assignment]
        est.history = dict(obj.get("history") or {})
        est._load_extra_state(dict(obj.get("extra") or {}), path)
        return est
