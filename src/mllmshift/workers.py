r"""Independent work on worker threads of one compute thread each: one pool (:class:`Tasks`) for the
estimators' fits (:func:`run_tasks`: the members of a cross-fitted CLUB, an ensemble's CLUBs), the out-of-core
pass's blocks (:mod:`mllmshift.onepass`) and a monitor window's eigenvalue problems (:mod:`mllmshift.monitor`).

Why: a multi-threaded library splits each kernel between its threads, which meet at the end of every kernel
(torch's CLUB fit, B = 256 rows × 512 × 500 products: about 25 meetings a step; an eigen-decomposition: one
at every small BLAS call, :func:`mllmshift.native_threads.one_blas_thread`). Beside other processes a
descheduled thread stalls the one waiting for it, and with passive OpenMP waits (:mod:`mllmshift.openmp`)
every meeting is a sleep and a wake-up even on an idle machine. Pieces of work that share nothing need no
meeting: each computes on one thread, and ``t`` such threads run as ``t`` independent processes would. Each
piece then computes exactly what it computes alone on one thread (the same operations in the same order):
the same numbers bit for bit, whatever the number of workers, and as the pieces one after the other in a run
on one thread (``tests/test_workers.py``). On the study preset's fit this took 6–25 % less CPU than the folds
one after the other on two torch threads, measured on a shared machine (docs/benchmarks.md, "The study
preset's CLUB fit").

The pool (:class:`Tasks`): with ``workers`` > 1, that many threads; while it is open, torch computes on one
thread in each worker and in the thread that opened it, and numpy's BLAS and the OpenMP runtimes on one
thread (:func:`~mllmshift.native_threads.library_limits`), all restored when it closes; a task runs in a
copy of its submitter's context (the run's thread choice: :mod:`mllmshift.follow_load`). With one worker, or
opened on a worker thread (no pools of pools), each task runs when it is submitted, in the caller's order.

The fits (:func:`run_tasks`): with ``t`` = the run's thread count now
(:func:`mllmshift.follow_load.current_threads`: an automatic choice re-read as the load changes, an explicit
count kept) and ``n`` tasks, ``t ≤ 1``, one task, no run around (a plain library call) or a call from a
worker runs the tasks one after the other in the caller's thread. Otherwise every task gets a worker of a
:class:`Tasks` pool, and a :class:`Gate` lets at most ``t`` compute at once; between units of work (every
epoch: :func:`turn`, called by :func:`~mllmshift.estimators._training.train_early_stopping`) a worker hands
its slot to the one that has waited longest. So three fits on two slots progress together and end together,
where two-then-one would leave a core idle for a third of the time; and when the run's choice drops to one
thread (:class:`~mllmshift.follow_load.FollowLoad`) the fits take turns on one slot.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, nullcontext
from types import TracebackType
from typing import Any, TypeVar

from mllmshift.follow_load import current_follow, current_threads
from mllmshift.native_threads import library_limits

T = TypeVar("T")

#: the gate of the fit running in this context (None outside :func:`run_tasks`' workers)
_GATE: contextvars.ContextVar[Gate | None] = contextvars.ContextVar("mllmshift_worker_gate", default=None)
#: ``on_worker`` is set on the threads of a :class:`Tasks` pool
_THREAD = threading.local()


def on_worker() -> bool:
    """Whether this thread is a worker of a :class:`Tasks` pool (whose own tasks run in sequence on it)."""
    return getattr(_THREAD, "on_worker", False)


def _start_worker() -> None:
    import torch

    _THREAD.on_worker = True
    torch.set_num_threads(1)  # this thread's OpenMP/MKL team: one thread


class Tasks:
    """``with Tasks(workers) as tasks: f = tasks.submit(fn, *args); ... f.result()`` (the module docstring says
    how). ``workers``: the pool's size, run in sequence below 2 or on a worker; ``name``: its threads' prefix."""

    def __init__(self, workers: int, *, name: str = "mllmshift-task") -> None:
        self.workers = 1 if on_worker() else max(1, int(workers))
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._undo: ExitStack | None = None

    def __enter__(self) -> Tasks:
        if self.workers > 1:
            import torch

            with ExitStack() as undo:
                before = torch.get_num_threads()
                torch.set_num_threads(1)  # the opening thread (and the count new threads start at)
                undo.callback(torch.set_num_threads, before)
                undo.enter_context(library_limits(1))
                self._pool = undo.enter_context(ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix=self.name, initializer=_start_worker))
                self._undo = undo.pop_all()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._undo is not None:
            self._undo.close()
            self._undo = None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``fn(*args)`` on a worker, or now (one worker; an exception is kept for :meth:`Future.result`, as a
        pool's future keeps it)."""
        if self._pool is not None:
            return self._pool.submit(contextvars.copy_context().run, fn, *args)
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as err:  # noqa: BLE001 - re-raised by result(), as a pool's future would
            done.set_exception(err)
        return done


class Cancelled(Exception):
    """Raised in a fit at its next :func:`turn` once the caller of :func:`run_tasks` stopped waiting for it."""


class Gate:
    """At most ``allowed`` holders at once, admitted first come, first served.

    :meth:`enter` waits for a slot, :meth:`leave` frees it, :meth:`turn` (a holder, between units of work)
    gives the slot to the longest waiter when one waits or when more hold slots than are now allowed.
    :meth:`close` (the caller was interrupted) admits every waiter and makes :meth:`turn` raise
    :class:`Cancelled`, so the workers end within one unit of work. ``peak`` is the most holders seen at once
    (tests).
    """

    def __init__(self, allowed: int) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self.allowed, self.running, self.peak = max(1, int(allowed)), 0, 0
        self.closed = False

    def enter(self) -> None:
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            while not self.closed and (self._queue[0] is not ticket or self.running >= self.allowed):
                self._cond.wait()
            self._queue.remove(ticket)  # the head, unless closed
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

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def turn(self) -> None:
        with self._cond:
            if self.closed:
                raise Cancelled("the caller stopped waiting")
            if not self._queue and self.running <= self.allowed:
                return
        self.leave()
        self.enter()
        if self.closed:
            raise Cancelled("the caller stopped waiting")

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
    if t is None or t <= 1 or len(tasks) <= 1 or on_worker():  # a worker's own tasks: in sequence
        return [task() for task in tasks]
    gate = Gate(t)
    follow = current_follow() if workers is None else None

    def work(task: Callable[[], T]) -> T:
        _GATE.set(gate)
        with gate.slot():
            if gate.closed:
                raise Cancelled("the caller stopped waiting")
            return task()

    with Tasks(len(tasks), name="mllmshift-fit") as pool, \
            (follow.workers(gate.set_allowed) if follow is not None else nullcontext()):
        futures = [pool.submit(work, task) for task in tasks]
        try:
            wait(futures)
        except BaseException:  # an interrupt: the fits end at their next turn (the pool waits for them)
            gate.close()
            raise
    return [f.result() for f in futures]
