"""Progress of long work: a tqdm bar on stderr when it is a terminal, one plain line per task otherwise.

Long-running code takes a :class:`Progress` (or None for silence) and opens one :class:`ProgressTask`
per piece of work (``with progress.task("fit club", total=200, unit="epoch") as t: ... t.advance()``).
:func:`progress_for` picks the reporter: :class:`BarProgress` when stderr is a terminal,
:class:`LineProgress` (one line when a task ends: its count, last status and seconds) when it is a file
or a pipe, so logs stay short and readable, the same rule the encoders follow (a bar on a terminal,
one line per encode call otherwise). :meth:`Progress.say` writes a one-off line (e.g. the threads a run
chose) either way.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
import time
from typing import IO, Any, TypeVar

T = TypeVar("T")


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
    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str]) -> None:
        self.desc, self.total, self.unit, self.stream = desc, total, unit, stream
        self.done = 0
        self.last_note = ""
        self.closed = False
        self.t0 = time.perf_counter()

    def advance(self, n: int = 1) -> None:
        self.done += n

    def note(self, text: str) -> None:
        self.last_note = text

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        note = f" ({self.last_note})" if self.last_note else ""
        self.stream.write(f"{self.desc}: {count} {self.unit}{note}, {time.perf_counter() - self.t0:.1f} s\n")
        self.stream.flush()


class LineProgress(Progress):
    """One line per task, when it ends, on ``stream`` (default stderr): for logs that are not a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def task(self, desc: str, total: int | None = None, unit: str = "it") -> ProgressTask:
        return _LineTask(desc, total, unit, self.stream)


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
