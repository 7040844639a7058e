"""Thread limits of the loaded native libraries (BLAS/LAPACK, OpenMP), from one kept library scan.

``threadpoolctl.threadpool_limits`` scans every loaded shared library on each call: about 1 ms with numpy
and torch loaded, and more the more libraries a process holds (with Ray loaded in the same process, the
monitor's tests spent 8.8 of 14 s in system time on these scans). The project enters such limits in loops
(every RJSD estimate runs its eigenvalue problems on one BLAS thread, every window of the monitor enters
one), so the scan is kept, as :class:`threadpoolctl.ThreadpoolController`, and made again only when a
module was imported since (which is how new native libraries arrive); the limit itself is then two calls
into each library.
"""

from __future__ import annotations

import functools
import sys
from typing import Any


@functools.lru_cache(maxsize=1)
def _scan(modules_loaded: int) -> Any:
    """The library scan while ``modules_loaded`` modules are imported (one kept: the newest)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def library_limits(limits: int, user_api: str | None = None) -> Any:
    """A context (``threadpoolctl``'s limiter) that runs its block with ``limits`` threads in every loaded
    library of ``user_api`` (``"blas"``, ``"openmp"``; None for both) and restores the previous counts."""
    return _scan(len(sys.modules)).limit(limits=int(limits), user_api=user_api)


def one_blas_thread() -> Any:
    """A context in which numpy's BLAS/LAPACK runs on one thread.

    A d × d eigen-decomposition (d = 768: about 0.05 s on one thread) is a sequence of small BLAS calls that
    synchronise their threads at every call: with two OpenBLAS threads on a 2-core machine where another
    process holds a core it took 1–4 s instead (issue #23, ``benchmarks/scale.py``: 11.6 of the bound's 14.7 s
    at n = 100,000). The values do not depend on the thread count beyond rounding."""
    return library_limits(1, "blas")
