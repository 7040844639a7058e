"""A window's terms computed in two stages on the run's worker threads (:class:`Drawn`).

A window's drift terms, output term and their exact resamples are eigenvalue problems of a few hundred rows
(a 363 × 363 one: 6 ms on one thread), which LAPACK runs with the GIL released and which gain little from a
multi-threaded BLAS. So they run as tasks on a :class:`mllmshift.workers.Tasks` pool of the run's thread
count while the calling thread draws the window's samples and scores EMI; the values do not depend on the
worker count.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np


class Drawn:
    """A term's value and bootstrap draws computed on :class:`~mllmshift.workers.Tasks` in two stages: ``first`` (a future of the
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
