r"""Independent fits (the members of a cross-fitted CLUB, an ensemble's CLUBs) on worker threads of one compute
thread each, at most as many computing at once as the run's thread count.

Why: torch splits each of the CLUB fit's products (B = 256 rows × 512 × 500) between its threads, which meet at
the end of every kernel (about 25 a step); beside other processes a descheduled thread stalls the one waiting
for it, and with passive OpenMP waits (:mod:`mllmshift.openmp`) every meeting is a sleep and a wake-up even on
an idle machine. Two fits that share nothing need no meeting: each computes on one thread, and the two threads
run as two independent processes would. Each fit then computes exactly what it computes alone on one thread
(the same operations in the same order): the same numbers bit for bit, whatever the number of workers
(``tests/test_workers.py``). On the study preset's fit this took 6–25 % less CPU than the folds one after the
other on two torch threads, measured on a shared machine (docs/benchmarks.md, "The study preset's CLUB fit").

The rule (:func:`run_tasks`): with ``t`` = the run's thread count now (:func:`mllmshift.follow_load.current_threads`:
an automatic choice re-read as the load changes, an explicit count kept) and ``n`` tasks, ``t ≤ 1``, one task,
no run around (a plain library call) or a call from a worker runs the tasks one after the other, as before.
Otherwise every task gets a worker thread computing on one torch thread, and a :class:`Gate` lets at most ``t``
compute at once; between units of work (every epoch: :func:`turn`, called by
:func:`~mllmshift.estimators._training.train_early_stopping`) a worker hands its slot to the one that has waited
longest. So three fits on two slots progress together and end together, where two-then-one would leave a core
idle for a third of the time; and when the run's choice drops to one thread
(:class:`~mllmshift.follow_load.FollowLoad`) the fits take turns on one slot.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from mllmshift.follow_load import current_follow, current_threads

T = TypeVar("T")

#: the gate of the worker running in this context (None outside :func:`run_tasks`' workers)
_GATE: contextvars.ContextVar[Gate | None] = contextvars.ContextVar("mllmshift_worker_gate", default=None)


class Gate:
    """At most ``allowed`` holders at once, admitted first come, first served.

    :meth:`enter` waits for a slot, :meth:`leave` frees it, :meth:`turn` (a holder, between units of work)
    gives the slot to the longest waiter when one waits or when more hold slots than are now allowed.
    ``peak`` is the most holders seen at once (tests).
    """

    def __init__(self, allowed: int) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self.allowed, self.running, self.peak = max(1, int(allowed)), 0, 0

    def enter(self) -> None:
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            while self._queue[0] is not ticket or self.running >= self.allowed:
                self._cond.wait()
            self._queue.popleft()
            self.running += 1
            self.peak = max(self.peak, self.running)
            self._cond.notify_all()

    def leave(self) -> None:
        with self._cond:
            self.running -= 1
            self._cond.notify_all()

    def set_allowed(self, allowed: int) -> None:
        with self._cond:
            self.allowed = max(1, int(allowed))
            self._cond.notify_all()

    def turn(self) -> None:
        with self._cond:
            if not self._queue and self.running <= self.allowed:
                return
        self.leave()
        self.enter()

    @contextmanager
    def slot(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()


def turn() -> None:
    """Between units of work of a worker of :func:`run_tasks`: :meth:`Gate.turn`; nothing elsewhere."""
    gate = _GATE.get()
    if gate is not None:
        gate.turn()


def run_tasks(tasks: Sequence[Callable[[], T]], *, workers: int | None = None) -> list[T]:
    """The tasks' results, in order, computed as the module docstring says (``workers``: the thread count to use
    instead of the run's, tests). The tasks must not touch global state that another one reads (torch's global
    RNG: build estimators before, fit them in the tasks); the first task error is raised after all have ended."""
    t = current_threads() if workers is None else workers
    if t is None or t <= 1 or len(tasks) <= 1 or _GATE.get() is not None:  # a worker's own tasks: in sequence
        return [task() for task in tasks]
    import torch

    gate = Gate(t)
    results: list[T | None] = [None] * len(tasks)
    errors: list[BaseException | None] = [None] * len(tasks)
    follow = current_follow() if workers is None else None
    before = torch.get_num_threads()

    def work(i: int) -> None:
        _GATE.set(gate)
        torch.set_num_threads(1)  # this thread's OpenMP/MKL team: one thread
        try:
            with gate.slot():
                results[i] = tasks[i]()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            errors[i] = err

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(work, i), daemon=True,
                                name=f"mllmshift-fit-{i}") for i in range(len(tasks))]
    with (follow.workers(gate.set_allowed) if follow is not None else _nothing()):
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    torch.set_num_threads(before)
    for err in errors:
        if err is not None:
            raise err
    return results  # type: ignore[return-value]


@contextmanager
def _nothing() -> Iterator[None]:
    yield
