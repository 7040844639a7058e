"""What every benchmark script that computes in-process does first: this checkout's ``src`` on ``sys.path`` and a
fixed thread count for BLAS, OpenMP and torch (set in the environment before torch or numpy's BLAS start, then
``torch.set_num_threads``), so a table's figures say how many threads made them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def use_checkout(threads: int) -> None:
    """Put ``ROOT/src`` first on ``sys.path`` and run BLAS, OpenMP and torch with ``threads`` threads."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    sys.path.insert(0, str(ROOT / "src"))
    from mllmshift.openmp import passive_waits

    passive_waits(os.environ)  # as the CLI does: OpenMP workers sleep between kernels (mllmshift.openmp)
    import torch

    torch.set_num_threads(threads)
