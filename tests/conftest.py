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

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MLLMSHIFT_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``, or a skip when it is not there."""
    data = SHARED / "data"
    if not (data / "llavabench-shift").is_dir():
        pytest.skip(f"real data not found at {data} (set MLLMSHIFT_SHARED to the shared/ folder)")
    return data


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
