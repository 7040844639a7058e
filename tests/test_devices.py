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


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (torch sees none)")
def test_emid_agrees_across_devices_and_records_the_device(tmp_path, capsys):
    """The whole pipeline (embedding, CLUB fit, scoring, bootstrap, RJSD bound) on CUDA against the CPU: the fit
    rounds differently, so values agree to 1e-3 relative (absolute 1e-4 for values near zero)."""
    import json

    from mllmshift.cli.main import main
    from tests.cli.test_emi_emid import FAST_PAPER, _write_split

    torch.backends.cuda.matmul.allow_tf32 = False
    a = _write_split(tmp_path / "id.jsonl", 90, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 90, 1, 0.8)
    runs = {}
    for device in ("cpu", "cuda"):
        assert main(["emid", "--id", str(a), "--ood", str(b), *FAST_PAPER, "--device", device, "--json"]) == 0
        runs[device] = json.loads(capsys.readouterr().out)
    cpu, gpu = runs["cpu"], runs["cuda"]
    assert (cpu["device"], gpu["device"]) == ("cpu", "cuda")
    close = dict(rel=1e-3, abs=1e-4)
    assert gpu["id"]["emi"]["value"] == pytest.approx(cpu["id"]["emi"]["value"], **close)
    for key in ("emid", "bound"):
        assert gpu["scenarios"][0][key]["value"] == pytest.approx(cpu["scenarios"][0][key]["value"], **close)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (torch sees none)")
def test_image_encoder_agrees_across_devices():
    """EfficientNet-Lite0 rows on CUDA and the CPU (unit vectors): within 1e-4 (cuDNN convolutions round
    differently; TF32 off)."""
    pytest.importorskip("efficientnet_lite_pytorch")
    from skimage import data

    from mllmshift.encoders import encoders

    torch.backends.cudnn.allow_tf32 = False
    images = [data.astronaut(), data.coffee(), data.chelsea()]
    cpu = encoders.create("efficientnet-lite0", device="cpu").encode(images)
    gpu = encoders.create("efficientnet-lite0", device="cuda").encode(images)
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
