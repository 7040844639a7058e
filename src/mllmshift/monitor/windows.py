"""Tumbling and sliding windows over the stream, by record count or by time.

- **Count** windows of w records every s records: window k holds accepted records k·s … k·s + w − 1
  (arrival order) and closes when its last record arrives. The buffer holds the last w records.
- **Time** windows of w seconds every s seconds: window k covers [t0 + k·s, t0 + k·s + w), with t0 the
  first record's time rounded down to a multiple of s (so hourly windows start on the hour). Window k
  closes when a record at or after its end arrives (records are expected in time order); windows
  without records close empty. A record earlier than the start of the oldest open window is *late*:
  it is counted and not used. The buffer holds the records from that start on.

A record that would close more than :data:`MAX_WINDOW_JUMP` time windows at once (a jump from seconds to
milliseconds, a typo such as 1e15) is refused with a :class:`~mllmshift.errors.DataError` naming its file and
line, instead of closing empty windows for hours.

Either way memory is bounded by what one window holds. Closed windows are returned by :meth:`add`;
the last, still open windows stay in the buffer (and in the saved state) until more records come.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mllmshift.errors import DataError
from mllmshift.monitor.config import WindowSpec
from mllmshift.monitor.embed import RecordRows


#: the most time windows one record may close: a longer gap is taken for a wrong timestamp (10,000 windows are a
#: year of hourly windows; a monitor closes a few thousand empty windows a second)
MAX_WINDOW_JUMP = 10_000


@dataclass(frozen=True)
class ClosedWindow:
    """A window that will not change any more. ``start``/``end``: its bounds (time windows) or the times of
    its first and last records (count windows; None when empty)."""

    index: int
    start: float | None
    end: float | None
    items: tuple[RecordRows, ...]


class Windows(ABC):
    """Assigns records to windows (see the module docstring)."""

    def __init__(self, spec: WindowSpec, maxlen: int | None = None) -> None:
        self.spec = spec
        self.next_index = 0
        self._buf: deque[RecordRows] = deque(maxlen=maxlen)

    @abstractmethod
    def add(self, item: RecordRows) -> list[ClosedWindow] | None:
        """Add one record; the windows it closes (None when the record is late and was not used)."""

    @property
    def buffer(self) -> list[RecordRows]:
        """The records still needed by open windows, oldest first."""
        return list(self._buf)

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """The counters that, with :attr:`buffer`, restore the windows."""

    @abstractmethod
    def restore(self, state: Mapping[str, Any], buffer: Iterable[RecordRows]) -> None:
        """Continue from a saved :meth:`state` and buffer."""


class CountWindows(Windows):
    def __init__(self, spec: WindowSpec) -> None:
        super().__init__(spec, maxlen=int(spec.size))
        self.size, self.step = int(spec.size), int(spec.step)
        self.accepted = 0

    def add(self, item: RecordRows) -> list[ClosedWindow]:
        self._buf.append(item)
        self.accepted += 1
        if self.accepted != self.next_index * self.step + self.size:
            return []
        items = tuple(self._buf)
        self.next_index += 1
        return [ClosedWindow(self.next_index - 1, items[0].record.timestamp, items[-1].record.timestamp, items)]

    def state(self) -> dict[str, Any]:
        return {"kind": "count", "accepted": self.accepted, "next_index": self.next_index}

    def restore(self, state: Mapping[str, Any], buffer: Iterable[RecordRows]) -> None:
        self.accepted, self.next_index = int(state["accepted"]), int(state["next_index"])
        self._buf = deque(buffer, maxlen=self.size)


class TimeWindows(Windows):
    def __init__(self, spec: WindowSpec) -> None:
        super().__init__(spec)
        self.t0: float | None = None

    def bounds(self, index: int) -> tuple[float, float]:
        assert self.t0 is not None
        start = self.t0 + index * self.spec.step
        return start, start + self.spec.size

    def add(self, item: RecordRows) -> list[ClosedWindow] | None:
        ts = item.record.timestamp
        if self.t0 is None:
            self.t0 = math.floor(ts / self.spec.step) * self.spec.step
        if ts < self.bounds(self.next_index)[0]:
            return None
        end = self.bounds(self.next_index)[1]
        jump = 0 if ts < end else math.floor((ts - end) / self.spec.step) + 1
        if jump > MAX_WINDOW_JUMP:
            r = item.record
            raise DataError(f"time {ts:g} lies {jump:,} windows after the open window (which ends at {end:g}); more "
                            f"than {MAX_WINDOW_JUMP:,} windows at once is taken for a wrong timestamp (milliseconds "
                            "for seconds?): fix the record, or use longer windows", path=r.path, line=r.line,
                            field="timestamp")
        closed = []
        while self.bounds(self.next_index)[1] <= ts:
            start, end = self.bounds(self.next_index)
            closed.append(ClosedWindow(self.next_index, start, end,
                                       tuple(r for r in self._buf if start <= r.record.timestamp < end)))
            self.next_index += 1
            first = self.bounds(self.next_index)[0]
            while self._buf and self._buf[0].record.timestamp < first:
                self._buf.popleft()
        self._buf.append(item)
        return closed

    def state(self) -> dict[str, Any]:
        return {"kind": "time", "t0": self.t0, "next_index": self.next_index}

    def restore(self, state: Mapping[str, Any], buffer: Iterable[RecordRows]) -> None:
        self.t0 = None if state["t0"] is None else float(state["t0"])
        self.next_index = int(state["next_index"])
        self._buf = deque(buffer)


def make_windows(spec: WindowSpec) -> Windows:
    return CountWindows(spec) if spec.kind == "count" else TimeWindows(spec)
