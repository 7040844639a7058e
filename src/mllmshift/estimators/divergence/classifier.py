r"""Classifier-based Jensen–Shannon divergence.

With equal class priors, the Bayes classifier between P (label 1) and Q
(label 0) is :math:`D^*(z) = p(z)/(p(z)+q(z))`, and its balanced cross-entropy is

.. math::

    \mathrm{CE}(D^*) = \tfrac12\mathbb E_P[-\log D^*] + \tfrac12\mathbb E_Q[-\log(1-D^*)] = \ln 2 - \mathrm{JSD}(P\|Q).

Any other classifier has a larger population cross-entropy, so for every D,
:math:`\ln 2 - \mathrm{CE}(D) \le \mathrm{JSD}`. The estimator trains a
probabilistic classifier (a one-hidden-layer MLP, or logistic regression with
``hidden_size=0``) with class-balanced weights (Adam, mini-batches, at most
``max_steps`` steps, so small samples still get enough updates) and evaluates its cross-entropy
on pairs it was not trained on: the samples are split into ``folds`` parts,
each part is predicted by a classifier trained on the others (cross-fitting,
so every point is scored once, out of sample), and

.. math::

    \widehat{\mathrm{JSD}} = \ln 2 - \widehat{\mathrm{CE}}_{\text{held-out, balanced}}.

In expectation this is a *lower* bound of the JSD (held-out CE is unbiased for
the trained classifier's population CE). With finite samples it can fall
below 0; ``clip=True`` (default) returns ``min(max(·, 0), ln 2)``, and
:meth:`ClassifierJSD.estimate` gives the raw value too. Training is early-stopped
on an inner held-out ``val_fraction`` of each training part (evaluated every
``eval_every`` steps, stopping after ``patience`` evaluations without an
improvement of at least ``tol`` nats, which moves the estimate by less than that); inputs are
standardised with training statistics. Deterministic for a seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mllmshift.estimators.base import DivergenceEstimator, as_2d_float
from mllmshift.estimators._adam import Adam
from mllmshift.estimators._training import default_device, seeded_torch

LN2 = math.log(2.0)


@dataclass(frozen=True)
class ClassifierJSDResult:
    """The estimate (clipped as configured), the raw ln 2 − CE, and the held-out balanced CE."""

    value: float
    raw: float
    cross_entropy: float
    folds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClassifierJSDConfig:
    hidden_size: int = 64
    folds: int = 2
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_steps: int = 3000
    eval_every: int = 25
    patience: int = 10
    tol: float = 1e-3
    val_fraction: float = 0.2
    clip: bool = True
    seed: int = 0


class ClassifierJSD(DivergenceEstimator):
    """JSD = ln 2 − held-out balanced cross-entropy of a trained classifier (cross-fitted)."""

    name = "classifier-jsd"

    def __init__(self, hidden_size: int = 64, folds: int = 2, *, lr: float = 3e-3, weight_decay: float = 1e-4,
                 batch_size: int = 256, max_steps: int = 3000, eval_every: int = 25, patience: int = 10,
                 tol: float = 1e-3, val_fraction: float = 0.2, clip: bool = True, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        if folds < 2:
            raise ValueError("folds must be at least 2 (every point is scored by a classifier not trained on it)")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError("val_fraction must be in (0, 1)")
        if hidden_size < 0:
            raise ValueError("hidden_size must be >= 0 (0 = logistic regression)")
        self.cfg = ClassifierJSDConfig(hidden_size, folds, lr, weight_decay, batch_size, max_steps, eval_every,
                                       patience, tol, val_fraction, clip, seed)
        self.device = default_device(device)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.cfg)}

    def divergence(self, a: Any, b: Any) -> float:
        return self.estimate(a, b).value

    def estimate(self, a: Any, b: Any) -> ClassifierJSDResult:
        a2, b2 = as_2d_float(a, "a"), as_2d_float(b, "b")
        if a2.shape[1] != b2.shape[1]:
            raise ValueError(f"the two samples must have the same dimension, got {a2.shape[1]} and {b2.shape[1]}")
        k = self.cfg.folds
        if min(len(a2), len(b2)) < 2 * k:
            raise ValueError(f"each sample needs at least {2 * k} points for {k}-fold cross-fitting")
        z = np.vstack([a2, b2]).astype(np.float32)
        label = np.concatenate([np.ones(len(a2)), np.zeros(len(b2))]).astype(np.float32)
        rng = np.random.default_rng(self.cfg.seed)
        # stratified folds: each sample split into k parts separately
        fold = np.empty(len(z), dtype=np.int64)
        fold[: len(a2)] = rng.permutation(np.arange(len(a2)) % k)
        fold[len(a2) :] = rng.permutation(np.arange(len(b2)) % k)
        logits = np.empty(len(z))
        for f in range(k):
            test, train = fold == f, fold != f
            logits[test] = self._fit_predict(z[train], label[train], z[test], seed=self.cfg.seed * 1000 + f)
        # balanced held-out cross-entropy: −log σ(l) for P, −log σ(−l) for Q
        is_a = label == 1
        ce = 0.5 * float(np.mean(np.logaddexp(0.0, -logits[is_a]))) + 0.5 * float(
            np.mean(np.logaddexp(0.0, logits[~is_a])))
        raw = LN2 - ce
        value = min(max(raw, 0.0), LN2) if self.cfg.clip else raw
        return ClassifierJSDResult(value, raw, ce, k)

    def _model(self, d: int) -> nn.Module:
        h = self.cfg.hidden_size
        if h == 0:
            return nn.Linear(d, 1)
        return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 1))

    def _fit_predict(self, z: np.ndarray, label: np.ndarray, z_test: np.ndarray, seed: int) -> np.ndarray:
        """Train on (z, label) with class-balanced loss, early-stopped; return logits of ``z_test``."""
        cfg = self.cfg
        rng = np.random.default_rng(seed)
        n_val = max(2, int(round(cfg.val_fraction * len(z))))
        order = rng.permutation(len(z))
        val, tr = order[:n_val], order[n_val:]
        mean = z[tr].mean(axis=0)
        std = z[tr].std(axis=0)
        std[std < 1e-12] = 1.0

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor((a - mean) / std, dtype=torch.float32, device=self.device)

        zt, zv, zs = t(z[tr]), t(z[val]), t(z_test)
        lt = torch.as_tensor(label[tr], device=self.device)
        lv = torch.as_tensor(label[val], device=self.device)
        # class-balanced weights: each class carries half the loss
        def weights(lab: torch.Tensor) -> torch.Tensor:
            n1 = lab.sum().clamp(min=1.0)
            n0 = (1 - lab).sum().clamp(min=1.0)
            return torch.where(lab == 1, 0.5 / n1, 0.5 / n0) * len(lab)

        wt, wv = weights(lt), weights(lv)
        with seeded_torch(seed):
            model = self._model(z.shape[1]).to(self.device)
            opt = Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        gen = torch.Generator().manual_seed(seed)
        best, bad = math.inf, 0
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        m = min(cfg.batch_size, len(zt))
        perm, cursor = torch.randperm(len(zt), generator=gen), 0
        for step in range(1, cfg.max_steps + 1):
            if cursor + m > len(perm):
                perm, cursor = torch.randperm(len(zt), generator=gen), 0
            idx = perm[cursor : cursor + m].to(self.device)
            cursor += m
            model.train()
            loss = (F.binary_cross_entropy_with_logits(model(zt[idx]).squeeze(1), lt[idx], reduction="none")
                    * wt[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % cfg.eval_every and step != cfg.max_steps:
                continue
            model.eval()
            with torch.no_grad():
                v = float((F.binary_cross_entropy_with_logits(model(zv).squeeze(1), lv, reduction="none")
                           * wv).mean())
            if v < best - cfg.tol:
                best, bad = v, 0
                best_state = {k: t_.detach().clone() for k, t_ in model.state_dict().items()}
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        model.load_state_dict(best_state)
        model.eval()
        with torch.no_grad():
            return model(zs).squeeze(1).double().cpu().numpy()
