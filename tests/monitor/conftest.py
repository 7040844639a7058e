"""Monitor tests run torch and BLAS on one thread (small matrices: one thread is faster and steadier on
2 shared cores)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    """Inside ``thread_limits(1)`` a monitor's automatic thread choice answers 1 too."""
    from mllmshift.threads import thread_limits

    with thread_limits(1):
        yield
