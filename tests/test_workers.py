"""Independent fits on worker threads: at most the run's thread count compute at once, they take turns, they
follow the load, and a cross-fitted CLUB fitted on workers equals the one fitted one fold after the other."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from mllmshift.follow_load import REFRESH_S, following, refresh, stage
from mllmshift.threads import CPUs, ThreadChoice, thread_limits
from mllmshift.workers import Gate, run_tasks, turn


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _units(log: list[tuple[int, int]], i: int, n: int, active: list[int], lock: threading.Lock) -> int:
    """``n`` units of work, each between two :func:`turn` calls; logs (task, unit) and the workers active."""
    for u in range(n):
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        log.append((i, u))
        time.sleep(0.002)
        with lock:
            active[0] -= 1
        turn()
    return i * 10


@pytest.mark.parametrize("allowed", [1, 2])
def test_at_most_the_allowed_workers_compute_and_they_take_turns(allowed):
    log: list[tuple[int, int]] = []
    active, lock = [0, 0], threading.Lock()
    out = run_tasks([lambda i=i: _units(log, i, 6, active, lock) for i in range(3)], workers=allowed)
    assert out == [0, 10, 20]  # in task order
    assert active[1] == allowed and len(log) == 18
    if allowed == 1:  # one thread: one task after the other, in the caller's thread, as before
        assert log == [(i, u) for i in range(3) for u in range(6)]
    else:  # taking turns: the third task starts before the first two have finished (not two-then-one)
        assert log.index((2, 0)) < max(log.index((0, 5)), log.index((1, 5)))


def test_without_a_run_or_with_one_thread_tasks_run_in_the_callers_thread():
    def name() -> str:
        return threading.current_thread().name

    me = name()
    assert run_tasks([name, name]) == [me, me]  # no run: as before
    with thread_limits(1):
        assert run_tasks([name, name]) == [me, me]
    with thread_limits(2):
        assert all(n.startswith("mllmshift-fit") for n in run_tasks([name, name]))
        # a worker's own tasks run in that worker, one after the other (no workers of workers)
        nested = run_tasks([lambda: [name(), *run_tasks([name, name])], lambda: 0])
    assert nested[0][0].startswith("mllmshift-fit") and nested == [[nested[0][0]] * 3, 0]


def test_a_task_error_is_raised_after_every_task_ended():
    done = []

    def bad() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_tasks([bad, lambda: done.append(1)], workers=2)
    assert done == [1]


def test_the_gate_admits_fewer_when_the_allowed_count_drops():
    g = Gate(2)
    g.enter(), g.enter()
    g.set_allowed(1)
    entered = threading.Event()

    def third() -> None:
        g.enter()
        entered.set()
        g.leave()

    th = threading.Thread(target=third)
    th.start()
    g.leave()  # one holder left: 1 running = 1 allowed, the waiter still waits
    assert not entered.wait(0.05)
    g.turn()  # the holder hands over: the waiter gets the one slot, and gives it back when done
    assert entered.is_set()
    th.join()
    assert g.running == 1 and g.peak == 2


def test_workers_follow_the_load_through_the_gate_not_torchs_threads():
    loads = [0.0]
    clock = _Clock()
    seen: list[int] = []
    two = CPUs(affinity=2, quota=None, online=2)
    with following(ThreadChoice(2, 2, 0.0, "auto"), cpus=two, load_reader=lambda: loads[0], clock=clock) as follow:
        with stage("fit"):

            def task() -> None:
                loads[0] = 4.0
                clock.t += REFRESH_S
                refresh()  # the load rose: the gate allows one, this worker keeps one torch thread
                seen.append(torch.get_num_threads())

            run_tasks([task])  # one task: the caller's thread, torch's threads set as before
            assert torch.get_num_threads() == 1
            loads[0], clock.t = 0.0, clock.t + REFRESH_S
            refresh()
            assert torch.get_num_threads() == 2
            run_tasks([task, lambda: seen.append(torch.get_num_threads())])
            assert torch.get_num_threads() == 2  # the run's threads are back after the workers
    assert seen[0] == 1 and seen[1:] == [1, 1]
    changes = follow.record()["fit"]["changes"]
    assert [c["threads"] for c in changes] == [1, 2, 1]


def test_a_crossfitted_club_on_workers_equals_the_one_fitted_fold_after_fold():
    from mllmshift.estimators.mi.crossfit import CrossFitMI

    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 6)).astype(np.float32)
    y = (np.tanh(x @ rng.standard_normal((6, 5))) + 0.3 * rng.standard_normal((150, 5))).astype(np.float32)
    groups = [str(i // 3) for i in range(150)]
    fits = []
    for threads in (1, 2):
        with thread_limits(threads):
            est = CrossFitMI(6, 5, base="club", folds=3, seed=1, hidden_size=16, max_epochs=6, patience=6,
                             batch_size=32)
            fits.append(est.fit(x, y, groups=groups))
    for a, b in zip(fits[0].members, fits[1].members):
        sa, sb = a.net.state_dict(), b.net.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)  # bit for bit: each fit on one thread either way
        assert a.history["val_nll"] == b.history["val_nll"]
    assert fits[0].mi(x, y) == fits[1].mi(x, y)


# ------------------------------------------------------------------ the pool
def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_worker_runs_each_task_when_submitted_and_keeps_its_error_for_result():
    from mllmshift.workers import Tasks

    order: list[int] = []
    before = (torch.get_num_threads(), _blas_threads())
    with Tasks(1) as tasks:
        assert (torch.get_num_threads(), _blas_threads()) == before  # nothing changed for one worker
        futures = [tasks.submit(lambda i: order.append(i) or threading.current_thread().name, i) for i in range(3)]
        assert order == [0, 1, 2]  # run at submission, in order, in the caller's thread
        bad = tasks.submit(lambda: 1 / 0)
    assert [f.result() for f in futures] == [threading.current_thread().name] * 3
    with pytest.raises(ZeroDivisionError):
        bad.result()


def test_workers_compute_on_one_thread_see_the_callers_context_and_give_the_same_values():
    from mllmshift.follow_load import current_threads
    from mllmshift.workers import Tasks, on_worker

    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((60, 60)) for _ in range(6)]
    mats = [m @ m.T for m in mats]

    def task(m: np.ndarray) -> tuple[np.ndarray, int, list[int], int | None, bool, int]:
        with Tasks(3) as inner:  # opened on a worker: no pool of pools
            nested = inner.workers
        return np.linalg.eigvalsh(m), torch.get_num_threads(), _blas_threads(), current_threads(), on_worker(), nested

    alone = [np.linalg.eigvalsh(m) for m in mats]
    with thread_limits(2):
        before = _blas_threads()
        with Tasks(2, name="t") as tasks:
            assert torch.get_num_threads() == 1 and set(_blas_threads()) == {1}  # the opening thread too
            out = [f.result() for f in [tasks.submit(task, m) for m in mats]]
        assert torch.get_num_threads() == 2 and _blas_threads() == before  # restored
    for (vals, torch_n, blas, threads, worker, nested), want in zip(out, alone):
        np.testing.assert_allclose(vals, want, rtol=1e-12)
        assert (torch_n, set(blas), threads, worker, nested) == (1, {1}, 2, True, 1)
    assert not on_worker()


def test_an_interrupted_caller_stops_the_fits_at_their_next_turn(monkeypatch):
    """Ctrl-C while the fits run: run_tasks raises it once every worker has ended, each within one unit of work
    (the pool waits for its workers; a fit of thousands of units is not finished first)."""
    from concurrent.futures import wait as real_wait

    import mllmshift.workers as w

    units = [0, 0, 0]

    def fit(i: int) -> None:
        for _ in range(3000):
            units[i] += 1
            time.sleep(0.001)
            turn()

    def interrupted(futures):  # the caller's wait, interrupted after 50 ms
        real_wait(futures, timeout=0.05)
        raise KeyboardInterrupt

    monkeypatch.setattr(w, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_tasks([lambda i=i: fit(i) for i in range(3)], workers=2)
    assert 0 < sum(units) and max(units) < 3000


def test_a_closed_gate_admits_its_waiters_and_its_turn_raises():
    from mllmshift.workers import Cancelled

    g = Gate(1)
    g.enter()
    entered = threading.Event()
    th = threading.Thread(target=lambda: (g.enter(), entered.set()))
    th.start()
    assert not entered.wait(0.05)
    g.close()
    assert entered.wait(1.0)
    th.join()
    with pytest.raises(Cancelled):
        g.turn()
