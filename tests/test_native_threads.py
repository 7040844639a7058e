"""Native-library thread limits from a kept library scan (src/mllmshift/native_threads.py)."""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import sys

import pytest

from threadpoolctl import threadpool_info

from mllmshift import native_threads
from mllmshift.native_threads import library_limits, loaded_objects, one_blas_thread


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_blas_thread_limits_blas_inside_and_restores_after():
    before = _blas_threads()
    assert before, "numpy's BLAS is loaded"
    with library_limits(2, "blas"):
        outer = _blas_threads()  # 2 each, or less where a library was built for fewer (OpenCV's OpenBLAS: 1)
        assert max(outer) == 2
        with one_blas_thread():
            assert _blas_threads() == [1] * len(before)
        assert _blas_threads() == outer
    assert _blas_threads() == before


def test_the_scan_is_kept_until_another_shared_object_is_loaded(monkeypatch):
    made: list[int] = []
    real = native_threads._scan.__wrapped__

    def counting(loaded: int):
        made.append(loaded)
        return real(loaded)

    monkeypatch.setattr(native_threads, "_scan", functools.lru_cache(maxsize=1)(counting))
    loaded = [100]
    monkeypatch.setattr(native_threads, "loaded_objects", lambda: loaded[0])
    for _ in range(5):
        with one_blas_thread():
            pass
    assert made == [100]  # five limits, one scan
    loaded[0] += 1
    with one_blas_thread():
        pass
    assert made == [100, 101]  # a library loaded since: scanned again


def test_loading_a_shared_object_raises_the_count():
    # a C extension that nothing imported, opened as a plain shared object (no module is added)
    spec = next((s for s in map(importlib.util.find_spec, ("xxlimited", "_testbuffer", "_xxtestfuzz", "xxsubtype"))
                 if s is not None and s.origin and s.origin.endswith(".so") and s.name not in sys.modules), None)
    if spec is None:
        pytest.skip("no unloaded extension module to open")
    before, modules = loaded_objects(), len(sys.modules)
    ctypes.CDLL(spec.origin)
    assert loaded_objects() >= before + 1 and len(sys.modules) == modules
