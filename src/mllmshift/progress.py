"""Progress of long work: a tqdm bar on stderr when it is a terminal, plain lines at a bounded rate otherwise.

Long-running code takes a :class:`Progress` (or None for silence) and opens one :class:`ProgressTask`
per piece of work (``with progress.task("fit club", total=200, unit="epoch") as t: ... t.advance()``).
:func:`progress_for` picks the reporter: :class:`BarProgress` when stderr is a terminal,
:class:`LineProgress` when it is a file or a pipe: one line when a task ends (its count, last status and
seconds) and, while a task runs longer, a :class:`Heartbeat` line at most every
:data:`HEARTBEAT_INTERVAL_S` seconds (count, rate, time left), so a log shows that an hour-long task is
moving without a line per step. The encoders follow the same rule (a bar on a terminal, heartbeats and one
line per encode call otherwise). :meth:`Progress.say` writes a one-off line (e.g. the threads a run chose)
either way.
"""

from __future__ import annotations

import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")

#: least seconds between two interim lines of one task in a log (a task shorter than this writes none)
HEARTBEAT_INTERVAL_S = 30.0


class Heartbeat:
    """Interim lines for a log: ``desc: done/total unit (note), 95 s, 3.2 unit/s, ~2 min left`` at most every
    ``interval_s`` (default :data:`HEARTBEAT_INTERVAL_S`) seconds of ``clock`` (the rate is done / elapsed; the
    time left (total − done) / rate)."""

    def __init__(self, stream: IO[str], desc: str, total: int | None, unit: str, interval_s: float | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.stream, self.desc, self.total, self.unit = stream, desc, total, unit
        self.interval_s = HEARTBEAT_INTERVAL_S if interval_s is None else interval_s
        self.clock = clock
        self.t0 = self.last = clock()

    def update(self, done: int, note: str = "") -> None:
        """Write a line if ``interval_s`` has passed since the start or the previous line."""
        now = self.clock()
        if now - self.last < self.interval_s:
            return
        self.last = now
        elapsed = now - self.t0
        count = f"{done}/{self.total}" if self.total else str(done)
        line = f"{self.desc}: {count} {self.unit}" + (f" ({note})" if note else "") + f", {elapsed:.0f} s"
        if elapsed > 0 and done > 0:
            rate = done / elapsed
            line += f", {rate:.3g} {self.unit}/s"
            if self.total and self.total > done:
                left = (self.total - done) / rate
                line += f", ~{left / 60:.0f} min left" if left >= 90 else f", ~{left:.0f} s left"
        self.stream.write(line + "\n")
        self.stream.flush()


class ProgressTask(ABC):
    """One piece of work being counted."""

    @abstractmethod
    def advance(self, n: int = 1) -> None:
        """``n`` more units are done."""

    def note(self, text: str) -> None:
        """A short status shown next to the count (default: ignored)."""

    @abstractmethod
    def close(self) -> None:
        """The work is over (finished or stopped early)."""

    def __enter__(self) -> ProgressTask:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Progress(ABC):
    """Where tasks report their progress."""

    stream: IO[str]

    @abstractmethod
    def task(self, desc: str, total: int | None = None, unit: str = "it") -> ProgressTask:
        """Start counting a task of ``total`` units (None when unknown)."""

    def say(self, text: str) -> None:
        """A one-off line of information on the progress stream."""
        self.stream.write(text + "\n")
        self.stream.flush()


class _BarTask(ProgressTask):
    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str]) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit=unit, file=stream)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def note(self, text: str) -> None:
        self.bar.set_postfix_str(text)

    def close(self) -> None:
        self.bar.close()


class BarProgress(Progress):
    """tqdm bars on ``stream`` (default stderr)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def task(self, desc: str, total: int | None = None, unit: str = "it") -> ProgressTask:
        return _BarTask(desc, total, unit, self.stream)

    def say(self, text: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(text, file=self.stream)  # above any open bar


class _LineTask(ProgressTask):
    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str], heartbeat: Heartbeat) -> None:
        self.desc, self.total, self.unit, self.stream = desc, total, unit, stream
        self.done = 0
        self.last_note = ""
        self.closed = False
        self.heartbeat = heartbeat

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.heartbeat.update(self.done, self.last_note)

    def note(self, text: str) -> None:
        self.last_note = text

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        note = f" ({self.last_note})" if self.last_note else ""
        self.stream.write(f"{self.desc}: {count} {self.unit}{note}, {self.heartbeat.clock() - self.heartbeat.t0:.1f} s\n")
        self.stream.flush()


class LineProgress(Progress):
    """One line per task when it ends, and :class:`Heartbeat` lines while it runs longer than ``interval_s``, on
    ``stream`` (default stderr): for logs that are not a terminal."""

    def __init__(self, stream: IO[str] | None = None, interval_s: float | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.stream = stream or sys.stderr
        self.interval_s, self.clock = interval_s, clock

    def task(self, desc: str, total: int | None = None, unit: str = "it") -> ProgressTask:
        return _LineTask(desc, total, unit, self.stream, Heartbeat(self.stream, desc, total, unit, self.interval_s,
                                                                  self.clock))


def progress_for(enabled: bool, stream: IO[str] | None = None) -> Progress | None:
    """None when not ``enabled``; bars when ``stream`` (default stderr) is a terminal; lines otherwise."""
    if not enabled:
        return None
    s = stream or sys.stderr
    return BarProgress(s) if s.isatty() else LineProgress(s)


def tracked(items: Iterable[T], progress: Progress | None, desc: str, total: int | None = None,
            unit: str = "it") -> Iterator[T]:
    """Iterate ``items``, advancing a task of ``progress`` by one per item (plain iteration for None)."""
    if progress is None:
        yield from items
        return
    with progress.task(desc, total, unit) as t:
        for item in items:
            yield item
            t.advance()
