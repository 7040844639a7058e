"""Progress: a bar on a terminal, one line per task (when it ends) in a log, one-off lines either way."""

from __future__ import annotations

import io
import re

from mllmshift.progress import BarProgress, LineProgress, progress_for, tracked


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_task_with_its_count_last_note_and_seconds():
    buf = io.StringIO()
    p = LineProgress(buf)
    with p.task("fit club", total=200, unit="epoch") as t:
        for i in range(200):
            t.advance()
            t.note(f"held-out {i}")
    assert list(tracked(range(3), p, "embed", 3, "split")) == [0, 1, 2]
    p.say("threads: 1")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"fit club: 200/200 epoch \(held-out 199\), \d+\.\d s", lines[0])
    assert re.fullmatch(r"embed: 3/3 split, \d+\.\d s", lines[1])
    assert lines[2] == "threads: 1"


def test_a_task_stopped_early_or_of_unknown_size_still_reports_once():
    buf = io.StringIO()
    t = LineProgress(buf).task("fit", total=100)
    t.advance(7)
    t.close()
    t.close()
    u = LineProgress(buf).task("read")
    u.advance(5)
    u.close()
    assert [line.rsplit(",", 1)[0] for line in buf.getvalue().splitlines()] == ["fit: 7/100 it", "read: 5 it"]


def test_the_reporter_follows_the_stream():
    assert isinstance(progress_for(True, io.StringIO()), LineProgress)
    assert isinstance(progress_for(True, _Tty()), BarProgress)
    assert progress_for(False, _Tty()) is None
