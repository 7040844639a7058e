"""Monitor tests run torch and BLAS on one thread (small matrices: one thread is faster and steadier on
2 shared cores)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # numpy's BLAS as well
        yield
    torch.set_num_threads(old)
