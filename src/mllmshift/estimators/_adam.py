r"""Adam (Kingma & Ba, 2015) for the trained estimators, without ``torch.optim``.

For each parameter :math:`p` with gradient :math:`g` (plus :math:`\lambda p` with L2 weight decay λ), at step t:

.. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
    p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}.

The operations are those of ``torch.optim.Adam``'s single-tensor path (the one it takes on the CPU), in the
same order, so the two give the same parameters (``tests/estimators/test_adam.py``). Why not use it:
every ``torch.optim`` optimizer wraps its methods in ``torch._disable_dynamo``, whose first call imports
``torch._dynamo`` — about 1 CPU-second, an eighth of a whole default ``mllmshift emi`` run on 90 samples,
for a compiler the estimators never use (``benchmarks/default_path.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class Adam:
    """Adam over ``params`` (``lr`` η, ``betas`` (β₁, β₂), ``eps`` ε, L2 ``weight_decay`` λ added to the gradient)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("Adam needs at least one parameter that requires a gradient")
        if not (lr > 0 and eps >= 0 and weight_decay >= 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), betas, float(eps), float(weight_decay)
        self._t = [0] * len(self.params)  # steps per parameter: one without a gradient is not stepped
        self._m = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._v = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (as ``set_to_none=True``)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        beta1, beta2 = self.betas
        for i, (p, m, v) in enumerate(zip(self.params, self._m, self._v)):
            if p.grad is None:
                continue
            self._t[i] += 1
            t = float(self._t[i])
            step_size = self.lr / (1 - beta1**t)
            bias_correction2_sqrt = (1 - beta2**t) ** 0.5
            g = p.grad if self.weight_decay == 0 else p.grad.add(p, alpha=self.weight_decay)
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)
