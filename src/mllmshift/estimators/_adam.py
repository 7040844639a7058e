r"""Adam (Kingma & Ba, 2015) for the trained estimators, without ``torch.optim``.

For each parameter :math:`p` with gradient :math:`g` (plus :math:`\lambda p` with L2 weight decay λ), at step t:

.. math::
    m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
    p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}.

Two paths, both tested against ``torch.optim.Adam`` (``tests/estimators/test_adam.py``):

- **fused** (the default where torch has the kernel: CUDA, and the CPU from torch 2.4): torch's
  ``_fused_adam_`` over every parameter with a gradient, one pass per tensor instead of six element-wise
  kernels (on a critic's twelve small tensors 120 µs a step instead of 420, a sixth of a SMILE fit's CPU time
  before). It computes the same update in another order of float operations: equal to float32 rounding at
  each step, not bit for bit.
- **element-wise** (``fused=False``): the operations of ``torch.optim.Adam``'s single-tensor path in the same
  order, as torch's multi-tensor ``_foreach_`` kernels: bit for bit the single-tensor path's parameters.

Why not ``torch.optim``:
every ``torch.optim`` optimizer wraps its methods in ``torch._disable_dynamo``, whose first call imports
``torch._dynamo`` — about 1 CPU-second, an eighth of a whole default ``mllmshift emi`` run on 90 samples,
for a compiler the estimators never use (``benchmarks/default_path.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

#: whether torch's fused Adam kernel runs on the CPU (torch >= 2.4; on CUDA it always does)
FUSED_ON_CPU = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 4)


def fused_kernel(device: torch.device) -> bool:
    """Whether torch's fused Adam kernel serves tensors on ``device``."""
    return hasattr(torch, "_fused_adam_") and (device.type == "cuda" or (device.type == "cpu" and FUSED_ON_CPU))


class Adam:
    """Adam over ``params`` (``lr`` η, ``betas`` (β₁, β₂), ``eps`` ε, L2 ``weight_decay`` λ added to the gradient);
    ``fused``: torch's fused kernel (None: where it has one for the parameters' device and float dtype)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 fused: bool | None = None) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("Adam needs at least one parameter that requires a gradient")
        if not (lr > 0 and eps >= 0 and weight_decay >= 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), betas, float(eps), float(weight_decay)
        self._t = [0] * len(self.params)  # steps per parameter: one without a gradient is not stepped
        self._m = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._v = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        devices = {p.device for p in self.params}
        can_fuse = len(devices) == 1 and fused_kernel(next(iter(devices))) and all(
            p.dtype in (torch.float32, torch.float64) for p in self.params)
        if fused and not can_fuse:
            raise ValueError("torch's fused Adam kernel does not serve these parameters (device, dtype or torch "
                             "version); leave fused unset")
        self.fused = can_fuse if fused is None else bool(fused)
        # the fused kernel's step counters (one per parameter, as _t)
        self._steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params] \
            if self.fused else []

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (as ``set_to_none=True``)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient (the element-wise path: the parameters that share a
        step count, all of them unless some went without a gradient, in one multi-tensor call per operation)."""
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._t[i] += 1
                groups.setdefault(self._t[i], []).append(i)
        if self.fused:
            idx = [i for ts in groups.values() for i in ts]
            if idx:
                self._fused_step(idx)
            return
        for t, idx in groups.items():
            self._step_group(float(t), idx)

    def _fused_step(self, idx: list[int]) -> None:
        """torch's fused kernel on the parameters ``idx`` (each with its own step count)."""
        steps = [self._steps[i] for i in idx]
        torch._foreach_add_(steps, 1.0)
        params = [self.params[i] for i in idx]
        torch._fused_adam_(params, [p.grad for p in params], [self._m[i] for i in idx], [self._v[i] for i in idx],
                           [], steps, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
                           weight_decay=self.weight_decay, eps=self.eps, amsgrad=False, maximize=False)

    def _step_group(self, t: float, idx: list[int]) -> None:
        """Adam's update at step ``t`` of the parameters ``idx`` (torch.optim.Adam's single-tensor operations)."""
        beta1, beta2 = self.betas
        params = [self.params[i] for i in idx]
        m, v = [self._m[i] for i in idx], [self._v[i] for i in idx]
        grads = [p.grad for p in params]
        if self.weight_decay != 0:
            grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
        step_size = self.lr / (1 - beta1**t)
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        torch._foreach_lerp_(m, grads, 1 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, m, denom, value=-step_size)
