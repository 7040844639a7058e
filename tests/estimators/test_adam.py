"""The estimators' Adam against ``torch.optim.Adam``, and the import it exists to avoid."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from mllmshift.estimators._adam import Adam


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def _train(net: torch.nn.Module, opt: object, steps: int, *, skip_last_layer_every: int = 0) -> None:
    gen = torch.Generator().manual_seed(1)
    for s in range(steps):
        x = torch.randn(16, 6, generator=gen)
        loss = (net(x) ** 2).mean() if not skip_last_layer_every or s % skip_last_layer_every else net[0](x).sum()
        opt.zero_grad()  # type: ignore[attr-defined]
        loss.backward()
        opt.step()  # type: ignore[attr-defined]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("skip", [0, 3])
@pytest.mark.parametrize("fused", [None, False])
def test_same_parameters_as_torch_adam(weight_decay: float, skip: int, fused: bool | None) -> None:
    """Same updates as torch's (CPU, single-tensor path) to float rounding, also when some parameters get no
    gradient on some steps (``skip``: every 3rd step only trains the first layer, so the last layer's step
    count lags and its bias correction must follow its own count)."""
    ours, ref = _net(0), _net(0)
    _train(ours, Adam(ours.parameters(), lr=0.01, weight_decay=weight_decay, fused=fused), 60,
           skip_last_layer_every=skip)
    _train(ref, torch.optim.Adam(ref.parameters(), lr=0.01, weight_decay=weight_decay), 60,
           skip_last_layer_every=skip)
    moved = max(float((a - b).detach().abs().max()) for a, b in zip(ours.parameters(), _net(0).parameters()))
    assert moved > 0.05  # the comparison is not between two untrained nets
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_first_step_is_lr_times_sign_of_gradient() -> None:
    """Closed form: after one step from zero moments, m̂ / √v̂ = g / |g|, so each weight moves by −lr·sign(g)
    (up to ε)."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opt = Adam([p], lr=0.1, eps=1e-12)
    (p * torch.tensor([2.0, -0.5, 7.0])).sum().backward()
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, -1.9, 2.9]))


@pytest.mark.parametrize("bad", [{"lr": 0.0}, {"betas": (1.0, 0.999)}, {"eps": -1.0}, {"weight_decay": -0.1}])
def test_rejects_invalid_settings(bad: dict) -> None:
    with pytest.raises(ValueError, match="invalid Adam settings"):
        Adam([torch.nn.Parameter(torch.zeros(2))], **bad)


def test_fitting_the_default_estimator_does_not_import_the_compiler() -> None:
    """The reason for this module: a default fit leaves ``torch._dynamo`` unimported (≈ 1 CPU-s saved)."""
    code = (
        "import sys, numpy as np\n"
        "from mllmshift.estimators.fitting import fit_ensemble\n"
        "from mllmshift.embeddings import EmbeddedSplit\n"
        "r = np.random.default_rng(0); x = r.standard_normal((40, 8)).astype('float32')\n"
        "s = EmbeddedSplit.from_arrays('a', x_text=x, response=x + 0.1, reference=x)\n"
        "fit_ensemble([s], 'smile', 1, max_steps=5)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_bitwise_equal_to_torch_single_tensor_adam() -> None:
    """The multi-tensor step does the single-tensor path's operations in its order: the parameters are equal
    bit for bit after 60 steps (also with weight decay and with parameters that skip steps)."""
    for weight_decay, skip in ((0.0, 0), (0.01, 3)):
        ours, ref = _net(0), _net(0)
        _train(ours, Adam(ours.parameters(), lr=0.01, weight_decay=weight_decay, fused=False), 60,
               skip_last_layer_every=skip)
        _train(ref, torch.optim.Adam(ref.parameters(), lr=0.01, weight_decay=weight_decay, foreach=False), 60,
               skip_last_layer_every=skip)
        for a, b in zip(ours.parameters(), ref.parameters()):
            assert torch.equal(a, b)
