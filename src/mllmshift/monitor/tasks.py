"""The run's threads for one window's statistics: small independent eigenvalue problems side by side.

A window's drift terms, output term and their exact resamples are eigenvalue problems of a few hundred rows
(a 363 × 363 one: 6 ms on one thread), which LAPACK runs with the GIL released and which gain little from a
multi-threaded BLAS. So with ``workers`` > 1 they run as tasks on that many threads, each with one BLAS thread,
while the calling thread draws the window's samples and scores EMI; with one worker each task runs when it is
submitted, in the caller's order (the loop it replaces). The values do not depend on the worker count.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

from mllmshift.native_threads import library_limits

T = TypeVar("T")


class Tasks:
    """``with Tasks(workers) as tasks: f = tasks.submit(fn, *args); ... f.result()`` (see the module docstring)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self._pool: ThreadPoolExecutor | None = None
        self._limits: Any = None

    def __enter__(self) -> Tasks:
        if self.workers > 1:
            self._limits = library_limits(1)
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mllmshift-stats")
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``fn(*args)`` on a worker, or now (one worker; an exception is kept for :meth:`Future.result`)."""
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as err:  # noqa: BLE001 - re-raised by result(), as a pool's future would
            done.set_exception(err)
        return done


class Drawn:
    """A term's value and bootstrap draws computed on :class:`Tasks` in two stages: ``first`` (a future of the
    value's eigenvalue pass), then :meth:`start` submits the exact resamples ``start(first)`` and :meth:`result`
    waits for them and returns ``finish(first, exact)``."""

    def __init__(self, first: Future[Any], start: Callable[[Any], list[Future[float]]],
                 finish: Callable[[Any, list[float]], tuple[float, np.ndarray]]) -> None:
        self.first, self._start, self._finish = first, start, finish
        self.exact: list[Future[float]] | None = None

    @classmethod
    def done(cls, value: float, draws: np.ndarray) -> Drawn:
        """A term computed already (the resampled path)."""
        first: Future[Any] = Future()
        first.set_result((value, draws))
        return cls(first, lambda _: [], lambda parts, _: parts)

    def start(self) -> None:
        self.exact = self._start(self.first.result())

    def result(self) -> tuple[float, np.ndarray]:
        if self.exact is None:
            self.start()
        assert self.exact is not None
        return self._finish(self.first.result(), [f.result() for f in self.exact])
