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


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_long_task_in_a_log_writes_interim_lines_at_most_every_interval():
    """A 100-step task whose steps take 7 s each, 30 s interval: an interim line at steps 5, 10, 15, ... (every
    35 s ≥ 30 s), each with its count, rate and time left; a task under 30 s writes none."""
    buf, clock = io.StringIO(), _Clock()
    p = LineProgress(buf, interval_s=30.0, clock=clock)
    with p.task("fit smile", total=100, unit="step") as t:
        for i in range(100):
            clock.t += 7.0
            t.note(f"held-out {i}")
            t.advance()
    lines = buf.getvalue().splitlines()
    interim, final = lines[:-1], lines[-1]
    assert len(interim) == 20  # 700 s / 35 s
    assert interim[0] == "fit smile: 5/100 step (held-out 4), 35 s, 0.143 step/s, ~11 min left"
    assert interim[-1].startswith("fit smile: 100/100 step (held-out 99), 700 s, 0.143 step/s")
    assert "left" not in interim[-1]  # nothing is left at the end
    assert final == "fit smile: 100/100 step (held-out 99), 700.0 s"
    quick = io.StringIO()
    with LineProgress(quick, interval_s=30.0, clock=clock).task("embed", total=3) as t:
        for _ in range(3):
            clock.t += 9.0
            t.advance()
    assert quick.getvalue().count("\n") == 1


def test_an_encoder_writing_to_a_log_beats_during_a_long_call(monkeypatch, capsys):
    """Encoder.encode(progress=True) into a log: with every batch past the interval (0 s here), one line per
    batch with its running count; with the default interval a quick call writes none; never a carriage return."""
    import mllmshift.progress as progress
    from mllmshift.encoders.content_hash import HashEncoder

    enc = HashEncoder(dim=4, batch_size=2)
    texts = [f"text {i}" for i in range(10)]
    enc.encode(texts, progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "HEARTBEAT_INTERVAL_S", 0.0)
    enc.encode(texts, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    counts = [re.fullmatch(rf"encode\[{re.escape(enc.name)}\]: (\d+)/10 texts, \d+ s.*", line) for line in err.splitlines()]
    assert all(counts) and [int(m.group(1)) for m in counts] == [2, 4, 6, 8, 10]
