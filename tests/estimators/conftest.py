"""Estimator tests run torch on one thread (fits are small; one thread is faster and steadier on 2 shared cores)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
