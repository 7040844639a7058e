"""Following the load during a run: an automatic choice re-read per stage and between a fit's epochs, an
explicit one kept, and encoders that chose their threads capped call by call."""

from __future__ import annotations

from mllmshift.follow_load import REFRESH_S, follow_cap, following, refresh, stage
from mllmshift.threads import CPUs, ThreadChoice

TWO = CPUs(affinity=2, quota=None, online=2)


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_an_automatic_choice_is_re_read_per_stage_and_during_a_stage():
    """Loads 0 → 4 → 0: the embed stage gets 2 threads, the fit 1 (four processes started after the run
    did); inside the fit a refresh after REFRESH_S sees them gone and goes back to 2, one before does not
    read at all. The record says what each stage chose and changed."""
    import torch

    loads = iter([0.0, 4.0, 0.0, 4.0])
    reads = []

    def reader() -> float:
        reads.append(1)
        return next(loads)

    clock = _Clock()
    original = torch.get_num_threads()
    with following(ThreadChoice(2, 2, 0.0, "auto"), cpus=TWO, load_reader=reader, clock=clock) as follow:
        with stage("embed") as c:
            assert (c.threads, torch.get_num_threads()) == (2, 2)
        with stage("fit") as c:
            assert (c.threads, torch.get_num_threads()) == (1, 1)
            clock.t += REFRESH_S / 2
            refresh()
            assert len(reads) == 2  # too soon: nothing read
            clock.t += REFRESH_S
            refresh()
            assert torch.get_num_threads() == 2 and len(reads) == 3
            clock.t += REFRESH_S
            assert follow.refresh() == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == original  # the stage's limits are undone
        refresh()  # between stages: nothing to follow
        assert len(reads) == 4
    assert follow.record() == {
        "embed": {"threads": 2, "load": 0.0, "changes": []},
        "fit": {"threads": 1, "load": 4.0, "changes": [{"threads": 2, "load": 0.0}, {"threads": 1, "load": 4.0}]}}
    # outside a run stage and refresh do nothing
    with stage("alone") as c:
        assert c is None
    refresh()


def test_an_explicit_count_is_kept_through_every_stage():
    def reader() -> float:
        raise AssertionError("an explicit count never reads the load")

    clock = _Clock()
    with following(ThreadChoice(1, 2, None, "argument", 1), cpus=TWO, load_reader=reader, clock=clock) as follow:
        with stage("fit") as c:
            clock.t += 10 * REFRESH_S
            refresh()
            assert c.threads == 1
    assert follow.record() == {"fit": {"threads": 1, "load": None, "changes": []}}


def test_a_long_fit_re_reads_the_load_between_its_epochs():
    """train_early_stopping refreshes before every unit: with four processes appearing after the third
    epoch, the fit drops to 1 thread from the fourth on (what the torch threads were at each step)."""
    import torch
    from torch import nn

    from mllmshift.estimators._training import train_early_stopping

    clock = _Clock()
    seen = []

    def step() -> float:
        seen.append(torch.get_num_threads())
        clock.t += REFRESH_S  # an epoch takes REFRESH_S
        return 1.0

    with following(ThreadChoice(2, 2, 0.0, "auto"), cpus=TWO, clock=clock,
                   load_reader=lambda: 0.0 if len(seen) < 3 else 4.0) as follow:
        with stage("fit"):
            train_early_stopping(nn.Linear(1, 1), step, None, max_steps=6, higher_is_better=False)
    assert seen == [2, 2, 2, 1, 1, 1]
    assert follow.record()["fit"]["changes"] == [{"threads": 1, "load": 4.0}]


def test_an_encoder_that_chose_its_threads_follows_the_load_between_calls():
    """An encoder built inside the embed stage takes the stage's 2 threads; when four processes appear its next
    call (the next split) computes with 1, and with 2 again once they are gone; one given 2 threads keeps 2."""
    from mllmshift.encoders.hashing import HashingBOW

    clock = _Clock()
    load = [0.0]
    with following(ThreadChoice(2, 2, 0.0, "auto"), cpus=TWO, clock=clock, load_reader=lambda: load[0]):
        with stage("embed"):
            auto, fixed = HashingBOW(), HashingBOW()
            fixed.threads = 2  # as an encoder's threads= option sets it
            assert (auto.thread_count(), fixed.thread_count()) == (2, 2)
            load[0], clock.t = 4.0, clock.t + REFRESH_S
            assert (auto.thread_count(), fixed.thread_count()) == (1, 2)
            load[0], clock.t = 0.0, clock.t + REFRESH_S
            assert auto.thread_count() == 2
        assert follow_cap(2) == 2  # between stages nothing is capped
    assert auto.thread_count() == 2
