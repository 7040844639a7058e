"""Shared fixtures.

Tests that need the real data beside the project (``../shared``) take the
``shared_data`` fixture and carry ``@pytest.mark.shared``; they skip with a
reason when the folder is absent. ``MLLMSHIFT_SHARED`` overrides its place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mllmshift.openmp import passive_waits

# as the CLI does, before any test imports torch: OpenMP threads sleep between a small fit's kernels (mllmshift.openmp)
passive_waits(os.environ)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MLLMSHIFT_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session", autouse=True)
def embedding_cache(tmp_path_factory: pytest.TempPathFactory):
    """Every test (and every subprocess it starts) uses a fresh embedding content cache, not ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("mllmshift-cache")
        mp.setenv("MLLMSHIFT_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``, or a skip when it is not there."""
    data = SHARED / "data"
    if not (data / "llavabench-shift").is_dir():
        pytest.skip(f"real data not found at {data} (set MLLMSHIFT_SHARED to the shared/ folder)")
    return data


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (small fits are faster and steadier so on 2 shared cores)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def one_thread(one_torch_thread):
    """torch and every BLAS/OpenMP library (numpy's OpenBLAS) on one thread for the test: on 2 shared cores two
    threads of small products wait on each other (a 90 × 1024 Gaussian MI took 10× the CPU time on two)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _quadrature_jsd_normal(mu: float) -> float:
    """JSD(N(0, 1) ‖ N(mu, 1)) in nats by numerical integration (an independent route to the truth)."""
    import math

    from scipy import integrate
    from scipy.stats import norm

    def f(t: float) -> float:
        p, q = norm.pdf(t), norm.pdf(t, mu)
        m = (p + q) / 2
        return 0.5 * (p * math.log(p / m) if p > 0 else 0) + 0.5 * (q * math.log(q / m) if q > 0 else 0)

    return integrate.quad(f, -15, 15 + mu, limit=200)[0]


@pytest.fixture(scope="session")
def quadrature_jsd_normal():
    """The function mu ↦ JSD(N(0, 1) ‖ N(mu, 1)) by quadrature."""
    return _quadrature_jsd_normal
