r"""Shared machinery of the critic-based variational MI lower bounds.

A critic :math:`T(x, y)` (see :mod:`~mllmshift.estimators.mi.critics`) is scored
on *positive* pairs :math:`(x_i, y_i)` drawn from the joint and on *negative*
pairs :math:`(x_i, y_j), j \ne i`, which stand in for the product of the
marginals. Every bound in this package is a function of four statistics of those
scores (:class:`ScoreStats`):

- the mean positive score :math:`\bar T_+ = \frac1n\sum_i T(x_i, y_i)`,
- the InfoNCE term :math:`\frac1n\sum_i \big[T_{ii} - \log\frac{1}{1+k_i}\big(e^{T_{ii}} + \sum_{j\in N_i} e^{T_{ij}}\big)\big]`,
- :math:`\log\sum_{\text{neg}} e^{T}` over all negative pairs, and the same with
  :math:`T` clipped to :math:`[-\tau, \tau]` (SMILE).

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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch

from mllmshift.errors import DataError
from mllmshift.estimators.base import MIEstimator, check_pairs
from mllmshift.estimators.mi.critics import Critic, default_device, make_critic, seeded_torch

FORMAT = "mllmshift-variational-mi/1"


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


@dataclass
class ScoreStats:
    """Sufficient statistics of critic scores for every bound (sums, so chunks merge exactly)."""

    n: int
    pos_sum: torch.Tensor
    infonce_sum: torch.Tensor
    neg_lse: torch.Tensor
    neg_lse_clip: torch.Tensor
    neg_count: float

    @classmethod
    def from_scores(cls, pos: torch.Tensor, neg: torch.Tensor, tau: float | None, k: int | None = None) -> ScoreStats:
        """Statistics of positives ``pos`` (n) and their negatives ``neg`` (n × K).

        Entries of ``neg`` equal to −inf are not pairs (the diagonal of an all-pairs
        score matrix); ``k`` is then the number of real negatives per row.
        """
        k = neg.shape[1] if k is None else k
        row = torch.logaddexp(pos, torch.logsumexp(neg, dim=1))
        infonce = (pos.double() - row.double()).sum() + len(pos) * math.log(1 + k)
        lse = torch.logsumexp(torch.logsumexp(neg, dim=1).double(), dim=0)
        if tau is None:
            lse_clip = lse
        else:
            clipped = torch.where(torch.isneginf(neg), neg, neg.clamp(-tau, tau))
            lse_clip = torch.logsumexp(torch.logsumexp(clipped, dim=1).double(), dim=0)
        return cls(len(pos), pos.double().sum(), infonce, lse, lse_clip, len(pos) * k)

    def merge(self, other: ScoreStats) -> ScoreStats:
        return ScoreStats(self.n + other.n, self.pos_sum + other.pos_sum, self.infonce_sum + other.infonce_sum,
                          torch.logaddexp(self.neg_lse, other.neg_lse),
                          torch.logaddexp(self.neg_lse_clip, other.neg_lse_clip), self.neg_count + other.neg_count)

    @property
    def pos_mean(self) -> torch.Tensor:
        return self.pos_sum / self.n

    @property
    def log_mean_exp_neg(self) -> torch.Tensor:
        """log of the mean of e^T over negative pairs, an estimate of log E_{P_X⊗P_Y}[e^T]."""
        return self.neg_lse - math.log(self.neg_count)

    @property
    def log_mean_exp_neg_clip(self) -> torch.Tensor:
        return self.neg_lse_clip - math.log(self.neg_count)


class VariationalMI(MIEstimator):
    """Base class of InfoNCE, NWJ, MINE and SMILE: a trained critic and a bound on its scores."""

    config_class: ClassVar[type[VariationalConfig]] = VariationalConfig

    def __init__(self, x_dim: int, y_dim: int, *, device: str | torch.device | None = None, **options: Any) -> None:
        known = {f.name for f in fields(self.config_class)} - {"x_dim", "y_dim"}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown options {sorted(unknown)}; known: {sorted(known)}")
        self.cfg = self.config_class(x_dim=x_dim, y_dim=y_dim, **options)
        cfg = self.cfg
        if not 0.0 < cfg.val_fraction < 1.0:
            raise ValueError("val_fraction must be in (0, 1): the held-out pairs drive early stopping")
        if cfg.negatives is not None and cfg.negatives < 1:
            raise ValueError("negatives must be None (all) or a positive number")
        self.device = default_device(device)
        with seeded_torch(cfg.seed):
            self.critic: Critic = make_critic(cfg.critic, x_dim, y_dim, cfg.hidden_size, cfg.n_layers,
                                              cfg.embed_dim).to(self.device)
        self.critic.eval()
        self._x_moments = (np.zeros(x_dim), np.ones(x_dim))
        self._y_moments = (np.zeros(y_dim), np.ones(y_dim))
        self.history: dict[str, Any] = {}

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

    def _batch_scores(self, x: torch.Tensor, y: torch.Tensor,
                      gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(positives (m), negatives (m × ·), negatives per row) of a batch: all other rows, or K random ones."""
        m = len(x)
        k = self.cfg.negatives
        if k is None or k >= m - 1:
            return (*_split_diagonal(self.critic.cross(x, y), 0), m - 1)
        pos = self.critic.pairs(x, y)
        offsets = torch.randperm(m - 1, generator=gen)[:k] + 1
        idx = (torch.arange(m)[:, None] + offsets[None, :]) % m
        neg = self.critic.pairs(x.repeat_interleave(k, dim=0), y[idx.reshape(-1).to(y.device)]).view(m, k)
        return pos, neg, k

    def _sample_stats(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> ScoreStats:
        """Score statistics of a whole sample, without gradients, in row chunks."""
        n = len(x)
        if n < 2:
            raise ValueError("a variational MI estimate needs at least 2 pairs (one positive, one negative)")
        tau = self._tau()
        chunk = self.cfg.chunk_size
        k = self.cfg.negatives
        stats: ScoreStats | None = None
        with torch.no_grad():
            if k is None or k >= n - 1:
                gy = self.critic.g(y) if self.critic.separable else None  # type: ignore[operator]
                for s in range(0, n, chunk):
                    xb = x[s : s + chunk]
                    sc = (self.critic.f(xb) @ gy.T if gy is not None  # type: ignore[operator]
                          else self.critic.cross(xb, y))
                    pos, neg = _split_diagonal(sc, s)
                    part = ScoreStats.from_scores(pos, neg, tau, n - 1)
                    stats = part if stats is None else stats.merge(part)
            else:
                gen = torch.Generator().manual_seed(seed)
                offsets = torch.randperm(n - 1, generator=gen)[:k] + 1
                for s in range(0, n, chunk):
                    rows = torch.arange(s, min(s + chunk, n))
                    idx = ((rows[:, None] + offsets[None, :]) % n).to(self.device)
                    xb = x[s : s + len(rows)]
                    pos = self.critic.pairs(xb, y[s : s + len(rows)])
                    neg = self.critic.pairs(xb.repeat_interleave(k, dim=0), y[idx.reshape(-1)]).view(len(rows), k)
                    part = ScoreStats.from_scores(pos, neg, tau)
                    stats = part if stats is None else stats.merge(part)
        assert stats is not None
        return stats

    # ---------------------------------------------------------------- fitting
    def fit(self, x: Any, y: Any, *, progress: bool = False) -> VariationalMI:
        """Train the critic on the pairs (x, y), early-stopped on a held-out part; returns self."""
        xa, ya = check_pairs(x, y)
        self._check_dims(xa, ya)
        cfg = self.cfg
        n = len(xa)
        n_val = max(2, int(round(cfg.val_fraction * n)))
        if n - n_val < 2:
            raise ValueError(f"too few pairs ({n}) to train a critic and hold out {cfg.val_fraction:.0%}")
        order = np.random.default_rng(cfg.seed).permutation(n)
        val_idx, tr_idx = order[:n_val], order[n_val:]
        if cfg.standardize:
            self._x_moments = _moments(xa[tr_idx])
            self._y_moments = _moments(ya[tr_idx])
        xt, yt = self._tensor(xa[tr_idx], self._x_moments), self._tensor(ya[tr_idx], self._y_moments)
        xv, yv = self._tensor(xa[val_idx], self._x_moments), self._tensor(ya[val_idx], self._y_moments)

        gen = torch.Generator().manual_seed(cfg.seed)
        self._reset_training_state()
        with seeded_torch(cfg.seed):
            opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        best_val, best_step = -math.inf, 0
        best_state = {k: v.detach().clone() for k, v in self.critic.state_dict().items()}
        val_curve: list[float] = []
        bad, step, stop = 0, 0, "max_steps"
        m = min(cfg.batch_size, len(tr_idx))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.max_steps, desc=f"fit {self.name}", unit="step")
        perm = torch.randperm(len(tr_idx), generator=gen)
        cursor = 0
        while step < cfg.max_steps:
            if cursor + m > len(perm):
                perm, cursor = torch.randperm(len(tr_idx), generator=gen), 0
            b = perm[cursor : cursor + m].to(self.device)
            cursor += m
            self.critic.train()
            pos, neg, k = self._batch_scores(xt[b], yt[b], gen)
            stats = ScoreStats.from_scores(pos, neg, self._tau(), k)
            loss = -self._objective(stats, pos, neg)
            if not torch.isfinite(loss):
                stop = "non-finite loss"
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if bar is not None:
                bar.update(1)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                self.critic.eval()
                v = float(self._value(self._sample_stats(xv, yv, cfg.seed)))
                val_curve.append(v)
                if math.isfinite(v) and v > best_val + 1e-6:
                    best_val, best_step, bad = v, step, 0
                    best_state = {k: t.detach().clone() for k, t in self.critic.state_dict().items()}
                else:
                    bad += 1
                    if bad >= cfg.patience:
                        stop = "early stopping"
                        break
        if bar is not None:
            bar.close()
        self.critic.load_state_dict(best_state)
        self.critic.eval()
        self.history = {"val_bound": val_curve, "best_val_bound": best_val, "best_step": best_step,
                        "steps_run": step, "stopped_by": stop, "n_train": len(tr_idx), "n_val": n_val}
        return self

    # ------------------------------------------------------------- estimation
    def _check_dims(self, x: np.ndarray, y: np.ndarray) -> None:
        if x.shape[1] != self.cfg.x_dim or y.shape[1] != self.cfg.y_dim:
            raise ValueError(f"{type(self).__name__} expects x of dim {self.cfg.x_dim} and y of dim "
                             f"{self.cfg.y_dim}, got {x.shape[1]} and {y.shape[1]}")

    def mi(self, x: Any, y: Any) -> float:
        """The bound on the sample (x, y) with the trained critic (see the module docstring)."""
        xa, ya = check_pairs(x, y)
        self._check_dims(xa, ya)
        self.critic.eval()
        stats = self._sample_stats(self._tensor(xa, self._x_moments), self._tensor(ya, self._y_moments),
                                   self.cfg.seed)
        return float(self._value(stats))

    def mi_weighted(self, x: Any, y: Any, weights: np.ndarray) -> np.ndarray:
        r"""The bound on reweighted samples, one per row of ``weights`` (B × n, rows summing to 1): the bootstrap.

        Positive pairs are weighted by :math:`w_i`, negative pairs :math:`(i, j), i \ne j` by :math:`w_i w_j`
        (normalised), so a pair drawn twice is never its own negative; at uniform weights this is :meth:`mi`
        with all negatives. One score matrix serves every resample. InfoNCE overrides it with its own formula.
        """
        xa, ya = check_pairs(x, y)
        self._check_dims(xa, ya)
        if self.cfg.negatives is not None and self.cfg.negatives < len(xa) - 1:
            raise NotImplementedError("mi_weighted needs negatives=None (every other sample a negative)")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != len(xa):
            raise ValueError(f"weights must be (B, {len(xa)}), got {w.shape}")
        wt = torch.as_tensor(w, dtype=torch.float64)
        tau = self._tau()
        pos = torch.zeros(len(w), dtype=torch.float64)
        lse = torch.full((len(w),), -math.inf, dtype=torch.float64)
        lse_clip = lse.clone()
        for rows, sc in self.score_rows(xa, ya, np.arange(len(xa))):
            r, cols = torch.arange(len(rows)), torch.as_tensor(rows)
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

    def score_rows(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Critic scores :math:`T(x_i, y_j)` of the rows ``i ∈ rows`` against every ``y_j`` of the sample.

        Yields ``(row_indices, scores)`` blocks of at most ``chunk_size`` rows, scores as a float64
        (rows × n) tensor; the positive of row ``i`` sits in column ``i``. No gradients.
        """
        xa, ya = check_pairs(x, y)
        self._check_dims(xa, ya)
        rows = np.asarray(rows, dtype=np.int64)
        self.critic.eval()
        with torch.no_grad():
            yt = self._tensor(ya, self._y_moments)
            gy = self.critic.g(yt) if self.critic.separable else None  # type: ignore[operator]
            for s in range(0, len(rows), self.cfg.chunk_size):
                idx = rows[s : s + self.cfg.chunk_size]
                xb = self._tensor(xa[idx], self._x_moments)
                sc = self.critic.f(xb) @ gy.T if gy is not None else self.critic.cross(xb, yt)  # type: ignore
                yield idx, sc.double()

    # ------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Config, critic weights, input moments and scalar history (readable with ``weights_only=True``)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        torch.save(self.payload(), tmp)
        os.replace(tmp, p)

    def payload(self) -> dict[str, Any]:
        """Everything :meth:`save` writes, as a dict of tensors, numbers and strings."""
        return {"format": FORMAT, "name": self.name, "config": asdict(self.cfg),
                "state_dict": {k: v.detach().cpu() for k, v in self.critic.state_dict().items()},
                "moments": {"x": [torch.as_tensor(a) for a in self._x_moments],
                            "y": [torch.as_tensor(a) for a in self._y_moments]},
                "history": {k: v for k, v in self.history.items() if not isinstance(v, list)},
                "extra": self._extra_state()}

    def _extra_state(self) -> dict[str, Any]:
        """Fitted state besides the critic and the moments (tensors or scalars) that a subclass saves."""
        return {}

    def _load_extra_state(self, extra: dict[str, Any], path: Path) -> None:
        """Restore what :meth:`_extra_state` saved (``path`` for error messages)."""

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device | None = None) -> VariationalMI:
        p = Path(path)
        if not p.is_file():
            raise DataError("estimator checkpoint not found", path=p)
        try:
            obj = torch.load(p, weights_only=True, map_location="cpu")
        except Exception as err:  # pickle / zip errors come in many types
            raise DataError(f"not a readable torch checkpoint: {err}", path=p) from None
        return cls.from_payload(obj, p, device)

    @classmethod
    def from_payload(cls, obj: Any, path: Path, device: str | torch.device | None = None) -> VariationalMI:
        """The estimator :meth:`payload` described (``path`` names the file in errors)."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise DataError(f"not a {FORMAT} checkpoint", path=path)
        if obj.get("name") != cls.name:
            raise DataError(f"checkpoint holds a '{obj.get('name')}' estimator, not '{cls.name}'", path=path,
                            field="name")
        cfg = dict(obj["config"])
        est = cls(cfg.pop("x_dim"), cfg.pop("y_dim"), device=device, **cfg)
        est.critic.load_state_dict(obj["state_dict"])
        est.critic.eval()
        est._x_moments = tuple(t.numpy() for t in obj["moments"]["x"])  # type: ignore[assignment]
        est._y_moments = tuple(t.numpy() for t in obj["moments"]["y"])  # type: ignore[assignment]
        est.history = dict(obj.get("history") or {})
        est._load_extra_state(dict(obj.get("extra") or {}), path)
        return est


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = a.mean(axis=0, dtype=np.float64)
    std = a.std(axis=0, dtype=np.float64)
    std[std < 1e-12] = 1.0  # constant coordinates carry no information; leave them centred
    return mean, std


def _split_diagonal(scores: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positives T(x_i, y_i) at ``(r, r + offset)`` and the scores with those set to −inf (not negatives)."""
    rows = torch.arange(len(scores), device=scores.device)
    pos = scores[rows, rows + offset]
    mask = torch.zeros_like(scores, dtype=torch.bool)
    mask[rows, rows + offset] = True
    return pos, scores.masked_fill(mask, -math.inf)
