"""--device: the CPU stays the default, the setting is scoped to a block, and CUDA agrees with the CPU within a
stated tolerance (that test skips without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mllmshift.devices import current_device, resolve_device, using_device
from mllmshift.evaluation.config import ConfigError, EvalConfig

CUDA = torch.cuda.is_available()


def test_cpu_is_the_default_and_the_setting_is_scoped():
    assert current_device() == "cpu"
    with using_device("auto") as dev:
        assert dev == ("cuda" if CUDA else "cpu") and current_device() == dev
        from mllmshift.estimators.mi.club import CLUB

        assert CLUB(3, 3).device.type == dev
    assert current_device() == "cpu"
    assert EvalConfig(text_encoder="hashing-bow").device == "cpu"


def test_bad_devices_are_refused():
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(ConfigError) as err:
        EvalConfig(text_encoder="hashing-bow", device="gpu")
    assert err.value.field == "device"
    if not CUDA:
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (torch sees none)")
def test_cuda_agrees_with_cpu():
    """Tolerance: fits on CUDA follow the same batches as on the CPU but round differently (TF32 off), so
    fitted estimates agree to 1e-3 relative; scoring a fixed estimator and the Gram matrices to 1e-5."""
    from mllmshift.estimators.divergence.rjsd import rjsd
    from mllmshift.estimators.mi.club import CLUB

    torch.backends.cuda.matmul.allow_tf32 = False
    g = np.random.default_rng(0)
    x = g.standard_normal((4000, 16)).astype(np.float32)
    y = (x[:, :8] + g.standard_normal((4000, 8))).astype(np.float32)
    cpu = CLUB(16, 8, hidden_size=32, max_epochs=10, seed=0, device="cpu").fit(x, y)
    gpu = CLUB(16, 8, hidden_size=32, max_epochs=10, seed=0, device="cuda").fit(x, y)
    assert gpu.mi(x, y) == pytest.approx(cpu.mi(x, y), rel=1e-3)
    gpu.net.load_state_dict(cpu.net.state_dict())
    assert gpu.mi(x, y) == pytest.approx(cpu.mi(x, y), rel=1e-5)
    with using_device("cuda"):
        on_gpu = rjsd(x, x[::-1] + 0.1)
    assert on_gpu == pytest.approx(rjsd(x, x[::-1] + 0.1), rel=1e-5, abs=1e-9)
