r"""One Adam step of CLUB's maximum-likelihood fit with its gradient in closed form, on one flat parameter buffer.

The network (:class:`~mllmshift.estimators.mi.club._CLUBNet`) is two heads of two layers,
:math:`\mu = W_{2\mu}\tanh(W_{1\mu}x + b_{1\mu}) + b_{2\mu}` and
:math:`\ell = \tanh(W_{2\ell}\tanh(W_{1\ell}x + b_{1\ell}) + b_{2\ell})` (ℓ = log σ²), and the loss of a
batch of B pairs is the mean over rows of :math:`\sum_d (y_d-\mu_d)^2 e^{-\ell_d} + \ell_d`.
With :math:`g = 1/B`, :math:`Q = (y-\mu)^2 e^{-\ell}` and :math:`A` the pre-Tanh log-variance, the gradient is

.. math::

    \partial\mu = -2g\,(y-\mu)\,e^{-\ell}, \qquad \partial A = g\,(1 - Q)\,(1-\ell^2),

then the usual back-propagation through the two linear layers and the hidden Tanh (:math:`1-h^2`).

Why not autograd: the profile of the study preset's fit (``benchmarks/club_fit.py``) spent about a quarter of
its CPU time outside the matrix products: autograd's element-wise graph (about twenty passes over a
B × d array per step where this takes about ten), eight parameter tensors stepped by Adam one by one
(48 small kernels a step), and a gather of every mini-batch. Here the two heads' first layers are one
matrix (one product forward, one for their weight gradient: the buffer lays ``p_mu.0.weight`` and
``p_logvar.0.weight`` out one after the other), gradients are written in place into a flat buffer, and
:class:`~mllmshift.estimators._adam.Adam` steps that one buffer — element-wise the same update as
stepping the eight tensors (torch's fused kernel where it has one: one pass instead of six). The module's parameters are views of the buffer during the fit (so
validation, snapshots and the best-state restore of
:func:`~mllmshift.estimators._training.train_early_stopping` work on the module as before) and get their
own storage back at the end. The values equal autograd's up to float32 rounding (a multiply by
:math:`e^{-\ell}` instead of a divide by :math:`e^{\ell}`, tanh as 2σ(2z) − 1, torch's fused Adam kernel,
a different summation order):
``tests/estimators/test_club_training.py`` compares both, step by step and over a whole fit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from mllmshift.estimators._adam import Adam


class FlatCLUBStep:
    """Adam steps of a CLUB network (``p_mu``, ``p_logvar`` heads) with closed-form gradients.

    Use inside :meth:`aliased`, which makes the module's parameters views of one flat buffer for the
    duration of the fit.
    """

    def __init__(self, net: nn.Module, *, lr: float, weight_decay: float, fused: bool | None = None) -> None:
        self.net = net
        mu1, mu2 = net.p_mu[0], net.p_mu[2]
        lv1, lv2 = net.p_logvar[0], net.p_logvar[2]
        self.k = mu1.out_features
        # layout: [W1μ; W1ℓ] (2k × x_dim, one matrix), [b1μ; b1ℓ], W2μ, b2μ, W2ℓ, b2ℓ
        self._order = [mu1.weight, lv1.weight, mu1.bias, lv1.bias, mu2.weight, mu2.bias, lv2.weight, lv2.bias]
        self._lr, self._weight_decay, self._fused = lr, weight_decay, fused

    @contextmanager
    def aliased(self) -> Iterator[FlatCLUBStep]:
        """Within the block the parameters are views of one flat buffer (and Adam steps it); after, each
        parameter owns a copy of its final values again."""
        params = self._order
        with torch.no_grad():
            flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
        flat.grad = torch.zeros_like(flat)
        views, grads, offset = [], [], 0
        for p in params:
            n = p.numel()
            views.append(flat.data[offset : offset + n].view_as(p))
            grads.append(flat.grad[offset : offset + n].view_as(p))
            offset += n
        for p, v in zip(params, views):
            p.data = v
        k, x_dim = self.k, params[0].shape[1]
        self._w1 = flat.data[: 2 * k * x_dim].view(2 * k, x_dim)
        self._b1 = flat.data[2 * k * x_dim : 2 * k * x_dim + 2 * k]
        self._gw1 = flat.grad[: 2 * k * x_dim].view(2 * k, x_dim)
        self._gb1 = flat.grad[2 * k * x_dim : 2 * k * x_dim + 2 * k]
        self._w2mu, self._b2mu, self._w2lv, self._b2lv = views[4:]
        self._gw2mu, self._gb2mu, self._gw2lv, self._gb2lv = grads[4:]
        self._flat = flat
        # torch's fused Adam kernel where it has one (one pass over the 0.5 M parameters instead of six)
        self._opt = Adam([flat], lr=self._lr, weight_decay=self._weight_decay, fused=self._fused)
        try:
            yield self
        finally:
            for p in params:
                p.data = p.data.clone()
            del self._opt, self._flat, self._w1, self._b1, self._gw1, self._gb1
            del self._w2mu, self._b2mu, self._w2lv, self._b2lv, self._gw2mu, self._gb2mu, self._gw2lv, self._gb2lv

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One Adam step on the batch (x, y); returns the batch's mean loss before the step."""
        k, g = self.k, 1.0 / len(x)
        h = _tanh_(torch.addmm(self._b1, x, self._w1.t()))  # B × 2k: both heads' hidden layers
        h_mu, h_lv = h[:, :k], h[:, k:]
        r = torch.addmm(self._b2mu, h_mu, self._w2mu.t()).sub_(y)  # μ − y
        lv = _tanh_(torch.addmm(self._b2lv, h_lv, self._w2lv.t()))  # ℓ
        ri = torch.exp(-lv).mul_(r)  # (μ − y) e^{−ℓ}
        q = r.mul_(ri)  # Q = (μ − y)² e^{−ℓ}  (r is not needed after this)
        loss = float((q.sum(dtype=torch.float64) + lv.sum(dtype=torch.float64)) * g)
        d_mu = ri.mul_(2.0 * g)  # ∂μ
        d_a = torch.mul(lv, lv).neg_().add_(1.0).mul_(q.neg_().add_(1.0)).mul_(g)  # ∂A = g (1 − Q)(1 − ℓ²)
        torch.mm(d_mu.t(), h_mu, out=self._gw2mu)
        torch.sum(d_mu, 0, out=self._gb2mu)
        torch.mm(d_a.t(), h_lv, out=self._gw2lv)
        torch.sum(d_a, 0, out=self._gb2lv)
        d_h = torch.cat([d_mu @ self._w2mu, d_a @ self._w2lv], dim=1)
        d_h.mul_(torch.mul(h, h).neg_().add_(1.0))  # through the hidden Tanh: 1 − h²
        torch.mm(d_h.t(), x, out=self._gw1)
        torch.sum(d_h, 0, out=self._gb1)
        self._opt.step()
        return loss


def _tanh_(z: torch.Tensor) -> torch.Tensor:
    """tanh in place as 2σ(2z) − 1: equal to torch.tanh to ~1e-7 absolute, and a third of its CPU time (torch's
    float32 tanh costs 2.6 ns an element here, its sigmoid 0.4 ns)."""
    return z.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
