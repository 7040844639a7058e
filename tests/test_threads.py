"""Thread choice: usable CPUs from affinity and cgroup quota, the load beside us, overrides, and the limits."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mllmshift.errors import MllmshiftError
from mllmshift.threads import (
    CPUs,
    ThreadChoice,
    choose_threads,
    enclosing_threads,
    own_runnable_threads,
    read_cgroup_quota,
    system_load,
    thread_limits,
)

TWO = CPUs(affinity=2, quota=None, online=2)


# ------------------------------------------------------------------ usable CPUs
@pytest.mark.parametrize("affinity,quota,usable", [(2, None, 2), (8, 1.5, 2), (8, 0.5, 1), (4, 16.0, 4),
                                                   (8, 2.0, 2), (1, None, 1)])
def test_usable_cpus_is_the_smaller_of_affinity_and_the_rounded_up_quota(affinity, quota, usable):
    assert CPUs(affinity, quota, online=64).usable == usable


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.mark.parametrize("files,quota", [
    ({"cpu.max": "150000 100000\n"}, 1.5),                          # cgroup v2, limited
    ({"cpu.max": "max 100000\n"}, None),                            # v2, unlimited
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),   # v1, limited
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),      # v1, unlimited
    ({"cpu.max": "garbage\n"}, None),
    ({}, None),                                                     # nothing readable
])
def test_cgroup_quota_is_read_from_v2_or_v1_files(tmp_path, files, quota):
    assert read_cgroup_quota(_write(tmp_path, files)) == quota


# ------------------------------------------------------------------ automatic choice
@pytest.mark.parametrize("load,threads", [(0.0, 2), (0.4, 1), (0.6, 1), (1.0, 1), (4.0, 1), (7.5, 1)])
def test_two_cores_get_two_threads_only_while_idle(load, threads):
    """Never more threads than cores free: 2 · (1 − 0.4/2) = 1.6 free cores give 1 thread."""
    c = choose_threads(cpus=TWO, load=load, environ={})
    assert (c.threads, c.source, c.usable_cpus, c.load) == (threads, "auto", 2, load)


def test_a_quota_on_a_big_busy_host_gets_its_share_of_the_idle_capacity():
    # 64-core host at load 32 (half busy), this process limited to 4 CPUs: 4 · (1 − 32/64) = 2 threads
    assert choose_threads(cpus=CPUs(affinity=64, quota=4.0, online=64), load=32.0, environ={}).threads == 2
    # the same host idle: all 4 CPUs of the quota, never the 64 the machine has
    assert choose_threads(cpus=CPUs(affinity=64, quota=4.0, online=64), load=0.0, environ={}).threads == 4


def test_the_automatic_choice_follows_the_stated_formula_and_never_exceeds_the_usable_cpus():
    for online in (1, 2, 8, 64):
        for affinity in sorted({1, 2, online}):
            for quota in (None, 0.5, 1.0, 3.0):
                cpus = CPUs(affinity, quota, online)
                for load in (0.0, 0.3, 0.9, 1.5, 3.0, 10.0, 100.0):
                    t = choose_threads(cpus=cpus, load=load, environ={}).threads
                    free = cpus.usable * (1 - load / online)
                    want = min(cpus.usable, max(1, math.floor(free + 1e-9)))
                    assert t == want and 1 <= t <= cpus.usable and (t <= free + 1e-9 or t == 1)


# ------------------------------------------------------------------ overrides
def test_an_explicit_request_wins_over_the_environment_and_is_capped_at_the_usable_cpus():
    env = {"MLLMSHIFT_THREADS": "1", "OMP_NUM_THREADS": "1"}
    c = choose_threads(8, cpus=TWO, load=0.0, environ=env)
    assert (c.threads, c.source, c.requested) == (2, "argument", 8)
    assert "capped at 2 usable CPUs" in c.describe()
    assert choose_threads(1, cpus=TWO, load=0.0, environ={}).threads == 1  # fewer than idle: honoured


def test_environment_variables_override_the_load_in_order():
    c = choose_threads(cpus=TWO, load=9.0, environ={"MLLMSHIFT_THREADS": "2", "OMP_NUM_THREADS": "1"})
    assert (c.threads, c.source) == (2, "MLLMSHIFT_THREADS")
    c = choose_threads(cpus=TWO, load=0.0, environ={"OMP_NUM_THREADS": "1,1"})  # nested-level list: first
    assert (c.threads, c.source) == (1, "OMP_NUM_THREADS")
    c = choose_threads(cpus=TWO, load=0.0, environ={"MLLMSHIFT_THREADS": " ", "OMP_NUM_THREADS": ""})
    assert c.source == "auto"


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_environment_value_is_an_error_naming_the_variable(value):
    with pytest.raises(MllmshiftError, match=r"\$MLLMSHIFT_THREADS must be a positive integer"):
        choose_threads(cpus=TWO, load=0.0, environ={"MLLMSHIFT_THREADS": value})


def test_a_request_below_one_is_an_error():
    with pytest.raises(MllmshiftError, match="at least 1"):
        choose_threads(0, cpus=TWO, load=0.0, environ={})


def test_describe_says_where_the_count_came_from():
    assert ThreadChoice(1, 2, 4.12, "auto").describe() == \
        "1 thread (auto: 2 usable CPUs, load 4.1; set with --threads or $MLLMSHIFT_THREADS)"
    assert ThreadChoice(2, 2, None, "MLLMSHIFT_THREADS", 2).describe().startswith("2 threads (MLLMSHIFT_THREADS = 2;")


# ------------------------------------------------------------------ the load
def test_system_load_is_the_run_queue_now_not_the_lagging_load_average(tmp_path, monkeypatch):
    """Processes that just started count (the average has not caught up), work that just ended does not (the
    average still shows it); the average is the fallback only where /proc/loadavg cannot be read."""
    monkeypatch.setattr("os.getloadavg", lambda: (0.25, 0.2, 0.1))
    f = tmp_path / "loadavg"
    f.write_text("0.25 0.20 0.10 5/310 4242\n")  # 5 runnable, one of them the reader: 4 others
    assert system_load(f, interval_s=0.0, tasks=None) == 4.0
    f.write_text("1.60 0.90 0.40 1/310 4242\n")  # a run just ended: the average says 0.25 (patched), nobody runs
    assert system_load(f, interval_s=0.0, tasks=None) == 0.0
    assert system_load(tmp_path / "absent", interval_s=0.0, tasks=None) == 0.25


def test_system_load_takes_the_fewest_runnable_of_its_reads(tmp_path, monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))
    seq = iter(["9/10 1", "3/10 1", "6/10 1"])
    monkeypatch.setattr(Path, "read_text", lambda self: "0.0 0.0 0.0 " + next(seq))
    assert system_load(Path("/fake"), reads=3, interval_s=0.0, tasks=None) == 2.0  # a passing spike of 8 is ignored


def _tasks(root: Path, states: str) -> Path:
    for i, state in enumerate(states):
        (root / str(100 + i)).mkdir(parents=True)
        (root / str(100 + i) / "stat").write_text(f"{100 + i} (pt_main thread) {state} 1 2 3 4\n")
    return root


def test_the_load_leaves_out_this_processs_own_running_threads(tmp_path):
    """During a run its own compute threads may still run (or spin) when the load is re-read: 6 runnable on
    the machine, 3 of them ours (R), 2 of ours asleep (S): 3 others. A name with spaces and parentheses parses."""
    f = tmp_path / "loadavg"
    f.write_text("3.0 1.0 1.0 6/310 4242\n")
    tasks = _tasks(tmp_path / "task", "RRSRS")
    assert own_runnable_threads(tasks) == 3
    assert system_load(f, interval_s=0.0, tasks=tasks) == 3.0
    assert own_runnable_threads(tmp_path / "absent") == 1  # unreadable: only the reader
    assert own_runnable_threads(_tasks(tmp_path / "sleepy", "SS")) == 1  # the reader runs, whatever it says


# ------------------------------------------------------------------ the limits
def test_thread_limits_sets_torch_and_blas_and_restores_them():
    import torch
    from threadpoolctl import threadpool_info

    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with thread_limits(ThreadChoice(1, 2, 0.0, "auto")) as n:
            assert n == 1 and torch.get_num_threads() == 1
            blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
            assert blas and all(lib["num_threads"] == 1 for lib in blas)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
    with pytest.raises(MllmshiftError):
        with thread_limits(0):
            pass


def test_inside_thread_limits_a_choice_without_a_request_follows_the_block():
    env = {"MLLMSHIFT_THREADS": "2"}
    with thread_limits(1):
        c = choose_threads(cpus=TWO, load=0.0, environ=env)
        assert (c.threads, c.source) == (1, "enclosing")
        assert choose_threads(2, cpus=TWO, load=0.0, environ=env).threads == 2  # an explicit request still wins
        with thread_limits(2):
            assert choose_threads(cpus=TWO, load=9.0, environ={}).threads == 2
            assert enclosing_threads() == 2
        assert choose_threads(cpus=TWO, load=0.0, environ={}).threads == 1   # the inner block has ended
        assert enclosing_threads() == 1
    assert choose_threads(cpus=TWO, load=0.0, environ={}).source == "auto"
    assert enclosing_threads() is None


def test_an_encoder_built_inside_a_run_follows_the_runs_threads():
    from mllmshift.encoders.hashing import HashingBOW

    with thread_limits(1):
        assert HashingBOW().thread_count() == 1
