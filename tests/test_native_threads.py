"""Native-library thread limits from a kept library scan (src/mllmshift/native_threads.py)."""

from __future__ import annotations

import sys
import types

from threadpoolctl import threadpool_info

from mllmshift import native_threads
from mllmshift.native_threads import library_limits, one_blas_thread


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_blas_thread_limits_blas_inside_and_restores_after():
    before = _blas_threads()
    assert before, "numpy's BLAS is loaded"
    with library_limits(2, "blas"):
        with one_blas_thread():
            assert _blas_threads() == [1] * len(before)
        assert _blas_threads() == [2] * len(before)
    assert _blas_threads() == before


def test_the_scan_is_kept_until_a_module_is_imported(monkeypatch):
    made: list[int] = []
    real = native_threads._scan.__wrapped__

    def counting(modules_loaded: int):
        made.append(modules_loaded)
        return real(modules_loaded)

    monkeypatch.setattr(native_threads, "_scan", __import__("functools").lru_cache(maxsize=1)(counting))
    for _ in range(5):
        with one_blas_thread():
            pass
    assert len(made) == 1  # five limits, one scan
    monkeypatch.setitem(sys.modules, "mllmshift_test_new_module", types.ModuleType("mllmshift_test_new_module"))
    with one_blas_thread():
        pass
    assert len(made) == 2 and made[1] == made[0] + 1  # a new import: scanned again

