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
        assert run_tasks([name, name]) == ["mllmshift-fit-0", "mllmshift-fit-1"]
        # a worker's own tasks run in that worker, one after the other (no workers of workers)
        nested = run_tasks([lambda: run_tasks([name, name]), lambda: 0])
    assert nested == [["mllmshift-fit-0", "mllmshift-fit-0"], 0]


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
