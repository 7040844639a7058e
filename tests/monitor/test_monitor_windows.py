"""Windows by count and by time, against naive definitions; a restored windower continues identically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.monitor.config import WindowSpec
from mllmshift.monitor.embed import RecordRows
from mllmshift.monitor.stream import StreamRecord
from mllmshift.monitor.windows import make_windows


def item(i: int, ts: float) -> RecordRows:
    z = np.zeros(2, np.float32)
    return RecordRows(StreamRecord(f"r{i}", ts, "q", "a"), z, z, z, False, None)


def feed(windows, items):
    closed, late = [], []
    for it in items:
        got = windows.add(it)
        if got is None:
            late.append(it.record.id)
        else:
            closed += got
    return closed, late


def naive_count(n: int, size: int, step: int) -> list[list[int]]:
    """Window k = records k·step … k·step + size − 1, for every window that n records complete."""
    return [list(range(k * step, k * step + size)) for k in range(n) if k * step + size <= n]


@pytest.mark.parametrize("size,step", [(5, 5), (5, 2), (5, 1), (4, 3)])
def test_count_windows_match_the_definition(size, step):
    items = [item(i, 100.0 + i) for i in range(23)]
    closed, _ = feed(make_windows(WindowSpec.parse(str(size), str(step))), items)
    assert [[int(r.record.id[1:]) for r in w.items] for w in closed] == naive_count(23, size, step)
    assert [w.index for w in closed] == list(range(len(closed)))
    assert all(w.start == w.items[0].record.timestamp and w.end == w.items[-1].record.timestamp for w in closed)


def naive_time(ts: list[float], size: float, step: float) -> tuple[list[tuple[float, list[int]]], list[int]]:
    """Windows [t0 + k·step, + size) closed by the stream (a later record at or past the end), and the late ones."""
    t0 = math.floor(ts[0] / step) * step
    windows, late, oldest, seen = [], [], 0, []
    for i, t in enumerate(ts):
        if t < t0 + oldest * step:
            late.append(i)
            continue
        while t0 + oldest * step + size <= t:
            start = t0 + oldest * step
            windows.append((start, [j for j in seen if start <= ts[j] < start + size]))
            oldest += 1
        seen.append(i)
    return windows, late


@pytest.mark.parametrize("size,step", [(60.0, 60.0), (60.0, 20.0), (30.0, 30.0)])
def test_time_windows_match_the_definition_with_gaps_and_late_records(size, step):
    rng = np.random.default_rng(0)
    ts = list(np.cumsum(rng.exponential(9.0, 60)) + 1000.0)
    ts[20] += 200.0  # a burst after a gap: empty windows in between
    ts[21:] = [t + 200.0 for t in ts[21:]]
    ts.insert(40, ts[39] - 2 * size)  # a record far behind: late
    spec = WindowSpec.parse(f"{int(size)}s", f"{int(step)}s")
    closed, late = feed(make_windows(spec), [item(i, t) for i, t in enumerate(ts)])
    want, want_late = naive_time(ts, size, step)
    assert late == [f"r{i}" for i in want_late] and late
    assert [(w.start, [int(r.record.id[1:]) for r in w.items]) for w in closed] == want
    assert any(not w.items for w in closed)  # the gap
    assert all(w.end - w.start == size for w in closed)
    assert closed[0].start % step == 0  # aligned to multiples of the step


@pytest.mark.parametrize("window,step", [("7", "3"), ("45s", "15s")])
def test_restored_windows_continue_like_an_uninterrupted_run(window, step):
    items = [item(i, 1000.0 + 4.0 * i) for i in range(50)]
    spec = WindowSpec.parse(window, step)
    whole, _ = feed(make_windows(spec), items)
    first = make_windows(spec)
    part1, _ = feed(first, items[:23])
    resumed = make_windows(spec)
    resumed.restore(first.state(), first.buffer)
    part2, _ = feed(resumed, items[23:])
    ids = lambda ws: [(w.index, w.start, [r.record.id for r in w.items]) for w in ws]  # noqa: E731
    assert ids(part1 + part2) == ids(whole)


def test_count_buffer_is_bounded_by_the_window():
    w = make_windows(WindowSpec.parse("10", "5"))
    feed(w, [item(i, float(i)) for i in range(1000)])
    assert len(w.buffer) == 10


def test_time_buffer_holds_only_the_open_windows():
    w = make_windows(WindowSpec.parse("60s", "30s"))
    feed(w, [item(i, float(i)) for i in range(10_000)])
    assert len(w.buffer) <= 61
