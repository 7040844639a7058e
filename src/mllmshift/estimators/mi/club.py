r"""CLUB: the contrastive log-ratio upper bound of mutual information (Cheng et al., ICML 2020).

A variational Gaussian :math:`q_\theta(y\mid x)=\mathcal N(\mu_\theta(x), \operatorname{diag}\sigma^2_\theta(x))`
is fitted by maximum likelihood on paired samples; the estimate on a sample
:math:`\{(x_i, y_i)\}_{i=1}^n` is

.. math::

    \hat I_{\mathrm{CLUB}} = \frac1n\sum_i \log q(y_i\mid x_i) - \frac1{n^2}\sum_{i,j}\log q(y_j\mid x_i)
      = \frac1n\sum_i\sum_d \frac{-(y_{id}-\mu_{id})^2 + \overline{(y_{\cdot d}-\mu_{id})^2}}{2\sigma^2_{id}},

where the normalising constants cancel. The negative term is evaluated in
closed form from the per-dimension mean :math:`m_d` and (population)
variance :math:`v_d` of the y's: :math:`\frac1n\sum_j (y_{jd}-\mu_{id})^2 = v_d + (m_d-\mu_{id})^2`.
That needs O(d) memory (running sums over row chunks, :meth:`CLUB.mi_resampled`) instead of the n×n×d
tensor of the reference code, so inputs on disk (:mod:`mllmshift.sources`) are scored chunk by chunk.

The network follows the paper's code: two heads ``p_mu`` and ``p_logvar``, each
``Linear(x_dim, hidden/2) → Tanh → Linear(hidden/2, y_dim)``, the log-variance
head ending in ``Tanh`` (so σ² ∈ (e⁻¹, e)). Its state-dict keys equal the
authors' (``p_mu.0.weight`` …), so their checkpoint loads as is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from mllmshift.errors import DataError
from mllmshift.estimators._checkpoint import load_torch_file, save_torch_checkpoint, torch_checkpoint
from mllmshift.estimators._training import default_device, holdout_split, seeded_torch, train_early_stopping
from mllmshift.estimators._batches import Rows
from mllmshift.estimators.base import Bound, MIEstimator, as_2d_float, check_pairs, make_config
from mllmshift.estimators.mi.club_scoring import CLUBScorer, RunningSums, fused_forward
from mllmshift.estimators.mi.club_training import FlatCLUBStep
from mllmshift.progress import Progress
from mllmshift.resampling import ResampleWeights
from mllmshift.sources import iter_blocks

FORMAT = "mllmshift-club/1"
#: ``(first row, x block) -> (μ, 1/σ²)``: the conditional's heads for a block of rows (see :meth:`CLUB._blocks`)
Heads = Callable[[int, Any], tuple[torch.Tensor, torch.Tensor]]


class _CLUBNet(nn.Module):
    def __init__(self, x_dim: int, y_dim: int, hidden_size: int) -> None:
        super().__init__()
        h = hidden_size // 2
        self.p_mu = nn.Sequential(nn.Linear(x_dim, h), nn.Tanh(), nn.Linear(h, y_dim))
        self.p_logvar = nn.Sequential(nn.Linear(x_dim, h), nn.Tanh(), nn.Linear(h, y_dim), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.p_mu(x), self.p_logvar(x)


@dataclass(frozen=True)
class CLUBConfig:
    """Hyper-parameters of :class:`CLUB` (with the seed, they reproduce a fit)."""

    #: option ranges beyond the defaults (counts >= 1, floats >= 0): patience may be 0, the learning rate > 0
    constraints: ClassVar[dict[str, Bound]] = {"patience": Bound(0), "lr": Bound(0, open=True)}

    x_dim: int
    y_dim: int
    hidden_size: int = 500
    seed: int = 0
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    val_fraction: float = 0.2
    #: rows scored at a time: 1,024 keeps a chunk's float64 work arrays (8 MB at d = 768) in cache; 8,192 made
    #: ``mi_many`` 2.5× slower for the same numbers (1.59 vs 0.64 CPU s on 16,384 rows, d = 768; issue #23)
    chunk_size: int = 1024


class CLUB(MIEstimator):
    """The Gaussian variational CLUB estimator of I(X; Y), in nats.

    Options (:class:`CLUBConfig`): ``hidden_size`` (500), ``lr``, ``weight_decay``, ``batch_size``,
    ``max_epochs`` (200), ``patience`` (10 epochs), ``val_fraction`` (0.2; 0 trains on everything, no early
    stopping), ``chunk_size`` (rows evaluated at a time); ``device`` (default:
    :func:`mllmshift.devices.current_device`, the CPU unless ``--device`` says otherwise).
    """

    name = "club"

    def __init__(self, x_dim: int | None, y_dim: int | None, *, seed: int = 0,
                 device: str | torch.device | None = None, **options: Any) -> None:
        if x_dim is None or y_dim is None:
            raise ValueError(f"{type(self).__name__} needs x_dim and y_dim (its network has fixed sizes)")
        self.cfg = make_config(CLUBConfig, self.name, x_dim=int(x_dim), y_dim=int(y_dim), seed=int(seed), **options)
        if self.cfg.hidden_size < 2:
            raise ValueError("hidden_size must be at least 2 (the hidden layer has hidden_size // 2 units)")
        if not 0.0 <= self.cfg.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1)")
        self.device = default_device(device)
        with seeded_torch(self.cfg.seed):
            self.net = _CLUBNet(self.cfg.x_dim, self.cfg.y_dim, self.cfg.hidden_size).to(self.device)
        self.net.eval()
        self.history: dict[str, Any] = {}

    @property
    def dims(self) -> tuple[int, int]:
        return self.cfg.x_dim, self.cfg.y_dim

    # ------------------------------------------------------------------ fitting
    def fit(self, x: Any, y: Any, *, progress: Progress | None = None) -> CLUB:
        """Maximum-likelihood fit of q(y|x), early-stopped on a held-out fraction.

        Minimises the (unnormalised) negative log-likelihood
        ``Σ_d (y_d − μ_d)² / σ²_d + log σ²_d`` averaged over the batch, with Adam (gradient in closed form:
        :mod:`~mllmshift.estimators.mi.club_training`), one epoch
        (all training pairs in a seeded random order) per unit of
        :func:`~mllmshift.estimators._training.train_early_stopping`. The best epoch on the held-out
        part is kept. Deterministic for a seed.
        """
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        cfg = self.cfg
        val_idx, tr_idx = holdout_split(len(xa), cfg.val_fraction, cfg.seed)
        train = Rows([xa, ya], tr_idx, self.device)
        val = Rows([xa, ya], val_idx, self.device)
        tgen = torch.Generator().manual_seed(cfg.seed)
        stepper = FlatCLUBStep(self.net, lr=cfg.lr, weight_decay=cfg.weight_decay)

        def epoch() -> float:
            perm = torch.randperm(len(train), generator=tgen)
            return sum(stepper.step(xb, yb) * len(xb) for xb, yb in train.batches(perm, cfg.batch_size)) / len(train)

        def held_out() -> float:
            with torch.no_grad():
                return sum(float(self._nll(xb, yb).sum(dtype=torch.float64))
                           for xb, yb in val.chunks(cfg.chunk_size)) / len(val)

        with stepper.aliased():
            log = train_early_stopping(self.net, epoch, held_out if len(val_idx) else None,
                                       max_steps=cfg.max_epochs, patience=cfg.patience, higher_is_better=False,
                                       progress=progress, desc=f"fit {self.name}", unit="epoch",
                                       score="NLL of q(y|x)")
        self.history = {"train_nll": log.train_curve, "val_nll": log.val_curve, "best_epoch": log.best_step - 1,
                        "epochs_run": log.steps_run, "n_train": len(tr_idx), "n_val": len(val_idx)}
        return self

    def _nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-row Σ_d (y_d − μ_d)² / σ²_d + log σ²_d."""
        mu, logvar = self.net(x)
        return ((mu - y) ** 2 / logvar.exp() + logvar).sum(dim=1)

    def fit_summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.history.items() if not isinstance(v, list) and k != "loaded_from"}

    # --------------------------------------------------------------- estimation
    def _heads(self, xb: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ(x), 1/σ²(x))`` of a block of rows, float64 on the device (the network through
        :func:`~mllmshift.estimators.mi.club_scoring.fused_forward`)."""
        x = torch.as_tensor(xb, dtype=torch.float32, device=self.device)
        mu, logvar = fused_forward(self.net, x) if type(self.net) is _CLUBNet else self.net(x)
        return mu.double(), torch.exp(-logvar.double())

    def conditional(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(μ(x), 1/σ²(x))`` as float64 arrays (n × y_dim), computed in row chunks (to inspect the fit)."""
        with torch.no_grad():
            heads = [self._heads(xb) for _, (xb,) in iter_blocks([as_2d_float(x, "x")], self.cfg.chunk_size)]
        return (np.concatenate([h[0].cpu().numpy() for h in heads]),
                np.concatenate([h[1].cpu().numpy() for h in heads]))

    def _checked(self, x: Any, ys: Sequence[Any]) -> tuple[Any, list[Any]]:
        xa = as_2d_float(x, "x")
        out = []
        for y in ys:
            xc, yc = check_pairs(xa, y)
            self.check_dims(xc, yc)
            out.append(yc)
        return xa, out

    def _blocks(self, xa: Any, ys: list[Any],
                heads: Heads | None = None) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, list[torch.Tensor]]]:
        """``(first row, μ, 1/σ², [y blocks])`` per row chunk of ``chunk_size``, float64 on the device; ``heads``
        ``(first row, x block) -> (μ, 1/σ²)`` replaces this network's (a cross-fitted estimator's members)."""
        with torch.no_grad():
            for start, (xb, *yb) in iter_blocks([xa, *ys], self.cfg.chunk_size):
                mu, inv = self._heads(xb) if heads is None else heads(start, xb)
                yield start, mu, inv, [torch.as_tensor(b, device=self.device).double() for b in yb]

    def mi(self, x: Any, y: Any) -> float:
        """The CLUB estimate on the paired sample (x, y), in one pass over row chunks."""
        return self.mi_many(x, [y])[0]

    def mi_many(self, x: Any, ys: Sequence[Any]) -> list[float]:
        """CLUB estimates of I(X; Y_k) for several y-samples sharing the same x: :meth:`mi_resampled` with one
        replicate that weighs every pair 1 (μ(x) and σ²(x) computed once per chunk, for every y)."""
        xa, checked = self._checked(x, ys)
        return [float(v) for v in self._resampled(xa, checked, None)[:, 0]]

    def mi_resampled(self, x: Any, ys: Sequence[Any], weights: ResampleWeights) -> np.ndarray:
        r"""CLUB estimates on B reweighted samples, in one pass over row chunks (never a B × n matrix).

        With multiplicities c_bi (W_b = Σ_i c_bi), per replicate the running sums
        m = Σ c y, s = Σ c y², A = Σ c/σ², B = Σ c μ/σ², C = Σ c μ²/σ² (vectors over the d coordinates)
        and P = Σ c p, p_i = Σ_d (y_id − μ_id)²/σ²_id, give

            Î_b = ½ Σ_d (s_d A_d − 2 m_d B_d + W_b C_d) / W_b² − ½ P / W_b,

        which is exactly :meth:`mi` on the resampled pairs; with every c_bi = 1 it is :meth:`mi` itself.
        """
        xa, checked = self._checked(x, ys)
        if weights.n != len(xa):
            raise ValueError(f"weights are for {weights.n} rows, the sample has {len(xa)}")
        return self._resampled(xa, checked, weights)

    def _resampled(self, xa: Any, ys: list[Any], weights: ResampleWeights | None,
                   heads: Heads | None = None) -> np.ndarray:
        """(len(ys) × B) estimates; ``weights`` None is the one replicate that weighs every pair 1; ``heads`` as
        :meth:`_blocks`."""
        sums = RunningSums(len(ys), 1 if weights is None else weights.n_resamples, self.cfg.y_dim, self.device)
        for start, mu, inv, yb in self._blocks(xa, ys, heads):
            sums.add(None if weights is None else weights.block(start, start + len(mu)), mu, inv, yb)
        return sums.values()

    def scorer(self, n_ys: int) -> CLUBScorer:
        """A :class:`CLUBScorer` of :meth:`mi_many` for ``n_ys`` y-samples that the caller feeds block by block
        (one read of the rows serving other sums too: :mod:`mllmshift.onepass`)."""
        return CLUBScorer(self, n_ys)

    def _moments(self, ys: list[Any]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-dimension mean m and population variance v of each y (float64, one pass over row chunks)."""
        sums = [[torch.zeros(self.cfg.y_dim, dtype=torch.float64, device=self.device) for _ in range(2)] for _ in ys]
        n = len(ys[0])
        for _, blocks in iter_blocks(ys, self.cfg.chunk_size):
            for (s1, s2), yb in zip(sums, blocks):
                t = torch.as_tensor(yb, device=self.device).double()
                s1 += t.sum(dim=0)
                s2 += (t * t).sum(dim=0)
        return [(s1 / n, (s2 / n - (s1 / n) ** 2).clamp_min(0.0)) for s1, s2 in sums]

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        """Per-pair terms log q(y_i|x_i) − (1/n)Σ_j log q(y_j|x_i), whose mean is :meth:`mi`: with the moments
        m, v of the y's (a first pass), ½ Σ_d (v_d + (m_d − y_id)(m_d + y_id − 2μ_id)) / σ²_id."""
        xa, (ya,) = self._checked(x, [y])
        return self._pointwise(xa, ya)

    def _pointwise(self, xa: Any, ya: Any, heads: Heads | None = None) -> np.ndarray:
        """:meth:`pointwise` of checked rows; ``heads`` as :meth:`_blocks`."""
        ((m, v),) = self._moments([ya])
        return np.concatenate([(0.5 * ((v + (m - yb) * (m + yb - 2.0 * mu)) * inv).sum(dim=1)).cpu().numpy()
                               for _, mu, inv, (yb,) in self._blocks(xa, [ya], heads)])

    # --------------------------------------------------------------- persistence
    def config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save config, weights and training history (a dict readable with ``weights_only=True``)."""
        save_torch_checkpoint(path, format=FORMAT, name=self.name, config=asdict(self.cfg),
                              state_dict=self.net.state_dict(), history=self.history)

    def payload(self) -> dict[str, Any]:
        """The checkpoint dict :meth:`save` writes (a member's part of a cross-fitted estimator's file)."""
        return torch_checkpoint(format=FORMAT, name=self.name, config=asdict(self.cfg),
                                state_dict=self.net.state_dict(), history=self.history)

    @classmethod
    def from_payload(cls, obj: dict[str, Any], path: str | os.PathLike[str],
                     device: str | torch.device | None = None) -> CLUB:
        """The estimator :meth:`payload` described (``path`` names the file in errors)."""
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise DataError(f"not a {FORMAT} member", path=path)
        cfg = dict(obj["config"])
        est = cls(cfg.pop("x_dim"), cfg.pop("y_dim"), device=device, **cfg)
        try:
            est.net.load_state_dict(obj["state_dict"])
        except RuntimeError as err:
            raise DataError(f"state dict does not fit a CLUB network: {err}", path=path) from None
        est.net.eval()
        est.history = dict(obj.get("history") or {})
        return est

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device | None = None) -> CLUB:
        """Load a :meth:`save` file, or a raw CLUB state dict such as the authors' checkpoint.

        A raw state dict has keys ``p_mu.{0,2}.{weight,bias}`` and
        ``p_logvar.{0,2}.{weight,bias}``; dims and hidden size are read from the weights.
        """
        obj = load_torch_file(path)
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            cfg = dict(obj["config"])
            state = obj["state_dict"]
        elif isinstance(obj, dict) and "p_mu.0.weight" in obj:
            state = obj
            w0 = state["p_mu.0.weight"]
            cfg = {"x_dim": int(w0.shape[1]), "y_dim": int(state["p_mu.2.weight"].shape[0]),
                   "hidden_size": int(w0.shape[0]) * 2}
        else:
            raise DataError("not a CLUB checkpoint (expected mllmshift format or p_mu/p_logvar state dict)",
                            path=path)
        est = cls(cfg.pop("x_dim"), cfg.pop("y_dim"), device=device, **cfg)
        try:
            est.net.load_state_dict(state)
        except RuntimeError as err:
            raise DataError(f"state dict does not fit a CLUB network: {err}", path=path) from None
        est.net.eval()
        if isinstance(obj, dict) and isinstance(obj.get("history"), dict):
            est.history = dict(obj["history"])
        est.history.setdefault("loaded_from", str(path))
        return est
