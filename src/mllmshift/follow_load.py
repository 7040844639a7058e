"""A run's automatic thread choice, re-read as the load changes during the run (issue #23 item 2).

:func:`mllmshift.threads.choose_threads` reads the load once; a study with four CPU-bound processes starting
10 s into it took 472 s against 48–61 s idle when the choice was made once at start. So a run's choice is
re-read (:class:`FollowLoad`, made the run's by :func:`following`) before each stage (:func:`stage`: embed,
fit, scenarios …) and, inside a long fit, between its epochs (:func:`refresh`, at most every
:data:`REFRESH_S` seconds), each time with :func:`~mllmshift.threads.choose_threads`'s automatic rule on the
load now: processes that start after the run started take threads away from it, and threads come back when
they end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from mllmshift.threads import CPUs, ThreadChoice, auto_choice, detect_cpus, enclosing_threads, system_load, \
    thread_limits

#: the fewest seconds between two re-reads of the load inside a stage (:func:`refresh`): three reads take
#: about 20 ms, so re-reading every 2 s costs a run about 1 % of its wall time
REFRESH_S = 2.0

#: the run's :class:`FollowLoad` (set by :func:`following`)
_FOLLOW: ContextVar[FollowLoad | None] = ContextVar("mllmshift_follow_load", default=None)


class FollowLoad:
    """A run's thread choice, re-read as the load changes (see the module docstring).

    ``choice`` is the run's choice at its start. When it is automatic, :meth:`stage` re-chooses at the start of
    every stage and :meth:`refresh` re-chooses inside one (at most every ``interval_s`` seconds) on the load
    ``load_reader()`` reads now; an explicit count (argument, environment) is kept throughout. :meth:`record`
    says what each stage chose. While independent fits run on worker threads
    (:func:`mllmshift.workers.run_tasks`) the count is how many of them compute at once, each on one torch
    thread, and a change goes to their gate (:meth:`workers`) instead of torch.
    """

    def __init__(self, choice: ThreadChoice, *, cpus: CPUs | None = None,
                 load_reader: Callable[[], float] | None = None, interval_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.choice = choice
        self.adaptive = choice.source == "auto"
        self._cpus = cpus
        self._load = load_reader or system_load
        self.interval_s, self._clock = interval_s, clock
        self._stages: dict[str, dict[str, Any]] = {}
        self._current: str | None = None
        self._threads = choice.threads
        self._last = clock()
        #: while fits run on worker threads (:func:`mllmshift.workers.run_tasks`): told the new count instead of
        #: torch (each worker computes on one thread; the count is how many compute at once)
        self._listener: Callable[[int], None] | None = None
        self._lock = threading.Lock()

    def _choose(self) -> ThreadChoice:
        if not self.adaptive:
            return self.choice
        cpus = self._cpus or detect_cpus()
        self._cpus = cpus
        return auto_choice(cpus, float(self._load()))

    @contextmanager
    def stage(self, name: str) -> Iterator[ThreadChoice]:
        """Run the stage ``name`` inside :func:`~mllmshift.threads.thread_limits` of a fresh choice (the run's,
        when not automatic)."""
        choice = self._choose()
        self._stages.setdefault(name, {"threads": choice.threads, "load": choice.load, "changes": []})
        outer = self._current, self._threads
        self._current, self._threads = name, choice.threads
        self._last = self._clock()
        try:
            with thread_limits(choice):
                yield choice
        finally:
            self._current, self._threads = outer

    def refresh(self) -> int:
        """Inside a stage: re-choose if ``interval_s`` has passed since the last choice and set torch's threads
        (the ones a fit computes with) to it; returns the thread count in force."""
        if not self.adaptive or self._current is None:
            return self._threads
        if not self._lock.acquire(blocking=False):  # another worker is re-reading the load now
            return self._threads
        try:
            now = self._clock()
            if now - self._last < self.interval_s:
                return self._threads
            self._last = now
            choice = self._choose()
            if choice.threads != self._threads:
                self._threads = choice.threads
                self._stages[self._current]["changes"].append({"threads": choice.threads, "load": choice.load})
                if self._listener is not None:
                    self._listener(choice.threads)
                else:
                    import torch

                    torch.set_num_threads(choice.threads)
            return self._threads
        finally:
            self._lock.release()

    @contextmanager
    def workers(self, listener: Callable[[int], None]) -> Iterator[None]:
        """While fits run on worker threads: a change of the choice calls ``listener(threads)`` (the workers'
        gate) instead of setting torch's threads."""
        outer, self._listener = self._listener, listener
        try:
            yield
        finally:
            self._listener = outer

    def record(self) -> dict[str, Any]:
        """Per stage: the threads and load it started with and every change :meth:`refresh` made in it."""
        return {name: {**entry, "changes": list(entry["changes"])} for name, entry in self._stages.items()}


@contextmanager
def following(choice: ThreadChoice, **options: Any) -> Iterator[FollowLoad]:
    """Make a :class:`FollowLoad` of ``choice`` the run's for the block (what :func:`stage` and :func:`refresh`
    use); ``options`` go to :class:`FollowLoad` (injected load reader, CPUs, clock: tests)."""
    follow = FollowLoad(choice, **options)
    token = _FOLLOW.set(follow)
    try:
        yield follow
    finally:
        _FOLLOW.reset(token)


def current_follow() -> FollowLoad | None:
    """The run's :class:`FollowLoad` (None outside :func:`following`)."""
    return _FOLLOW.get()


@contextmanager
def stage(name: str) -> Iterator[ThreadChoice | None]:
    """The run's :meth:`FollowLoad.stage` (nothing outside :func:`following`)."""
    follow = _FOLLOW.get()
    if follow is None:
        yield None
        return
    with follow.stage(name) as choice:
        yield choice


def current_threads() -> int | None:
    """The run's thread count now: inside a stage of a :func:`following` run what :class:`FollowLoad` chose last,
    else the enclosing :func:`~mllmshift.threads.thread_limits` block's count; None outside both (a plain library
    call)."""
    follow = _FOLLOW.get()
    if follow is not None and follow._current is not None:
        return follow._threads
    return enclosing_threads()


def follow_cap(threads: int) -> int:
    """``threads`` capped at the run's automatic choice now, refreshed (:meth:`FollowLoad.refresh`), inside a stage
    of a :func:`following` run; ``threads`` itself otherwise. What an encoder that chose its threads
    automatically computes each call with, so embedding follows the load between splits too."""
    follow = _FOLLOW.get()
    if follow is None or not follow.adaptive or follow._current is None:
        return threads
    return min(threads, follow.refresh())


def refresh() -> None:
    """The run's :meth:`FollowLoad.refresh` (nothing outside :func:`following`); cheap enough for every epoch."""
    follow = _FOLLOW.get()
    if follow is not None:
        follow.refresh()
