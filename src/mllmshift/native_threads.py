"""Thread limits of the loaded native libraries (BLAS/LAPACK, OpenMP), from one kept library scan.

``threadpoolctl.threadpool_limits`` scans every loaded shared library on each call: about 1 ms with numpy
and torch loaded, and more the more libraries a process holds (with Ray loaded in the same process, the
monitor's tests spent 8.8 of 14 s in system time on these scans). The project enters such limits in loops
(every RJSD estimate runs its eigenvalue problems on one BLAS thread, every window of the monitor enters
one), so the scan is kept, as :class:`threadpoolctl.ThreadpoolController`, and made again only when the
process has loaded another shared object since (counted by ``dl_iterate_phdr`` on Linux,
``_dyld_image_count`` on macOS: about 5 µs; elsewhere the count of imported modules stands in); the limit
itself is then two calls into each library. A count of imported modules alone missed libraries: a test
suite removes modules as well as adding them, and some packages load their BLAS (OpenCV's OpenBLAS) after
their import.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from typing import Any


@functools.lru_cache(maxsize=1)
def _scan(loaded: int) -> Any:
    """The library scan while ``loaded`` shared objects (:func:`loaded_objects`) are loaded (the newest kept)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@functools.cache
def _object_counter() -> Callable[[], int]:
    """The platform's count of loaded shared objects, or of imported modules where it has none."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # pragma: no cover - no C library to ask (Windows)
        return lambda: len(sys.modules)
    if hasattr(libc, "_dyld_image_count"):  # pragma: no cover - macOS
        count = libc._dyld_image_count
        count.restype = ctypes.c_uint32
        return lambda: int(count())
    if not hasattr(libc, "dl_iterate_phdr"):  # pragma: no cover
        return lambda: len(sys.modules)
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)

    def count() -> int:
        seen = [0]

        def one(info: Any, size: Any, data: Any) -> int:
            seen[0] += 1
            return 0

        libc.dl_iterate_phdr(callback_type(one), None)
        return seen[0]

    return count


def loaded_objects() -> int:
    """How many shared objects this process has loaded (the key of the kept scan)."""
    return _object_counter()()


def library_limits(limits: int, user_api: str | None = None) -> Any:
    """A context (``threadpoolctl``'s limiter) that runs its block with ``limits`` threads in every loaded
    library of ``user_api`` (``"blas"``, ``"openmp"``; None for both) and restores the previous counts."""
    return _scan(loaded_objects()).limit(limits=int(limits), user_api=user_api)


def one_blas_thread() -> Any:
    """A context in which numpy's BLAS/LAPACK runs on one thread.

    A d × d eigen-decomposition (d = 768: about 0.05 s on one thread) is a sequence of small BLAS calls that
    synchronise their threads at every call: with two OpenBLAS threads on a 2-core machine where another
    process holds a core it took 1–4 s instead (issue #23, ``benchmarks/scale.py``: 11.6 of the bound's 14.7 s
    at n = 100,000). The values do not depend on the thread count beyond rounding."""
    return library_limits(1, "blas")
