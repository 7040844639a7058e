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
That needs O(n·d) memory instead of the n×n×d tensor of the reference code.

The network follows the paper's code: two heads ``p_mu`` and ``p_logvar``, each
``Linear(x_dim, hidden/2) → Tanh → Linear(hidden/2, y_dim)``, the log-variance
head ending in ``Tanh`` (so σ² ∈ (e⁻¹, e)). Its state-dict keys equal the
authors' (``p_mu.0.weight`` …), so their checkpoint loads as is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mllmshift.errors import DataError
from mllmshift.estimators._checkpoint import load_torch_file, save_torch_checkpoint
from mllmshift.estimators._training import default_device, holdout_split, seeded_torch, train_early_stopping
from mllmshift.estimators.base import MIEstimator, check_pairs, make_config
from mllmshift.progress import Progress

FORMAT = "mllmshift-club/1"


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
    chunk_size: int = 4096


class CLUB(MIEstimator):
    """The Gaussian variational CLUB estimator of I(X; Y), in nats.

    Options (:class:`CLUBConfig`): ``hidden_size`` (500), ``lr``, ``weight_decay``, ``batch_size``,
    ``max_epochs`` (200), ``patience`` (10 epochs), ``val_fraction`` (0.2; 0 trains on everything, no early
    stopping), ``chunk_size`` (rows evaluated at a time); ``device`` (default: CUDA when available).
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
        ``Σ_d (y_d − μ_d)² / σ²_d + log σ²_d`` averaged over the batch, with Adam, one epoch
        (all training pairs in a seeded random order) per unit of
        :func:`~mllmshift.estimators._training.train_early_stopping`. The best epoch on the held-out
        part is kept. Deterministic for a seed.
        """
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        cfg = self.cfg
        val_idx, tr_idx = holdout_split(len(xa), cfg.val_fraction, cfg.seed)

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=torch.float32, device=self.device)

        xt, yt = tensor(xa[tr_idx]), tensor(ya[tr_idx])
        xv, yv = tensor(xa[val_idx]), tensor(ya[val_idx])
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        tgen = torch.Generator().manual_seed(cfg.seed)

        def epoch() -> float:
            perm = torch.randperm(len(xt), generator=tgen).to(self.device)
            total = 0.0
            for start in range(0, len(xt), cfg.batch_size):
                b = perm[start : start + cfg.batch_size]
                loss = self._nll(xt[b], yt[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            return total / len(xt)

        def held_out() -> float:
            with torch.no_grad():
                return float(self._nll(xv, yv))

        log = train_early_stopping(self.net, epoch, held_out if len(val_idx) else None, max_steps=cfg.max_epochs,
                                   patience=cfg.patience, higher_is_better=False, progress=progress,
                                   desc=f"fit {self.name}", unit="epoch")
        self.history = {"train_nll": log.train_curve, "val_nll": log.val_curve, "best_epoch": log.best_step - 1,
                        "epochs_run": log.steps_run, "n_train": len(tr_idx), "n_val": len(val_idx)}
        return self

    def _nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.net(x)
        return ((mu - y) ** 2 / logvar.exp() + logvar).sum(dim=1).mean()

    def fit_summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.history.items() if not isinstance(v, list) and k != "loaded_from"}

    # --------------------------------------------------------------- estimation
    def conditional(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(μ(x), 1/σ²(x))`` as float64 arrays (n × y_dim), computed in chunks."""
        xa = np.asarray(x)
        mus, invs = [], []
        with torch.no_grad():
            for start in range(0, len(xa), self.cfg.chunk_size):
                xb = torch.as_tensor(xa[start : start + self.cfg.chunk_size], dtype=torch.float32, device=self.device)
                mu, logvar = self.net(xb)
                mus.append(mu.double().cpu().numpy())
                invs.append(torch.exp(-logvar.double()).cpu().numpy())
        return np.concatenate(mus), np.concatenate(invs)

    def mi(self, x: Any, y: Any) -> float:
        """The CLUB estimate on the paired sample (x, y), O(n·d) memory."""
        return self.mi_many(x, [y])[0]

    def _checked(self, x: Any, ys: Sequence[Any]) -> tuple[np.ndarray, list[np.ndarray]]:
        xa = np.asarray(x)
        out = []
        for y in ys:
            xc, yc = check_pairs(xa, y)
            self.check_dims(xc, yc)
            out.append(np.asarray(y))
        return xa, out

    def _chunk_terms(self, xa: np.ndarray, ys: list[np.ndarray]) -> Iterator[tuple[int, torch.Tensor]]:
        """``(k, T)`` per row chunk and y-sample k, with T (chunk × d) the per-element terms whose total over
        rows and dimensions, halved and divided by n, is the estimate (see the module docstring)."""
        n = len(xa)
        step = self.cfg.chunk_size
        # per-dimension mean m and population variance v of each y, accumulated in float64
        moments = []
        for y in ys:
            s1 = torch.zeros(y.shape[1], dtype=torch.float64)
            s2 = torch.zeros(y.shape[1], dtype=torch.float64)
            for s in range(0, n, step):
                yb = torch.as_tensor(y[s : s + step]).double()
                s1 += yb.sum(dim=0)
                s2 += (yb * yb).sum(dim=0)
            m = s1 / n
            v = (s2 / n - m * m).clamp_min(0.0)
            moments.append((m.float().to(self.device), v.float().to(self.device)))
        with torch.no_grad():
            for start in range(0, n, step):
                xb = torch.as_tensor(xa[start : start + step], dtype=torch.float32, device=self.device)
                mu, logvar = self.net(xb)
                inv = torch.exp(-logvar)
                for k, (y, (m, v)) in enumerate(zip(ys, moments)):
                    yb = torch.as_tensor(y[start : start + step], dtype=torch.float32, device=self.device)
                    # negative minus positive term, per element, without cancellation of large sums:
                    # v + (m − μ)² − (y − μ)² = v + (m − y)(m + y − 2μ)
                    yield k, (v + (m - yb) * (m + yb - 2.0 * mu)) * inv

    def mi_many(self, x: Any, ys: Sequence[Any]) -> list[float]:
        """CLUB estimates of I(X; Y_k) for several y-samples sharing the same x.

        μ(x) and σ²(x) are computed once, chunk by chunk, and reused for every
        ``y`` (EMI needs two: the model responses and the references).
        """
        xa, checked = self._checked(x, ys)
        totals = np.zeros(len(checked))
        for k, terms in self._chunk_terms(xa, checked):
            totals[k] += 0.5 * float(terms.sum(dtype=torch.float64))
        return [float(t / len(xa)) for t in totals]

    def pointwise(self, x: Any, y: Any) -> np.ndarray:
        """Per-pair terms log q(y_i|x_i) − (1/n)Σ_j log q(y_j|x_i), whose mean is :meth:`mi`."""
        xa, (ya,) = self._checked(x, [y])
        return np.concatenate([0.5 * t.sum(dim=1, dtype=torch.float64).cpu().numpy()
                               for _, t in self._chunk_terms(xa, [ya])])

    def mi_weighted(self, x: Any, y: Any, weights: np.ndarray) -> np.ndarray:
        """CLUB estimates on reweighted samples, one per row of ``weights`` (B × n).

        Row b holds the multiplicities of a bootstrap resample divided by n
        (rows sum to 1). With w = weights[b], m = wᵀy, s = wᵀy²,
        A = wᵀ(1/σ²), B = wᵀ(μ/σ²), C = wᵀ(μ²/σ²) and p_i = Σ_d (y_id − μ_id)²/σ²_id:

            Î_b = ½ Σ_d (s_d A_d − 2 m_d B_d + C_d) − ½ wᵀp,

        which is exactly :meth:`mi` on the resampled pairs, at the cost of matrix products.
        """
        xa, ya = check_pairs(x, y)
        self.check_dims(xa, ya)
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != len(xa):
            raise ValueError(f"weights must be (B, {len(xa)}), got {w.shape}")
        mu, inv = self.conditional(xa)
        y64 = ya.astype(np.float64)
        p = ((y64 - mu) ** 2 * inv).sum(axis=1)
        m, s = w @ y64, w @ (y64 * y64)
        a, b, c = w @ inv, w @ (mu * inv), w @ (mu * mu * inv)
        return 0.5 * (s * a - 2.0 * m * b + c).sum(axis=1) - 0.5 * (w @ p)

    # --------------------------------------------------------------- persistence
    def config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save config, weights and training history (a dict readable with ``weights_only=True``)."""
        save_torch_checkpoint(path, format=FORMAT, name=self.name, config=asdict(self.cfg),
                              state_dict=self.net.state_dict(), history=self.history)

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
