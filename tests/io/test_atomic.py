"""Atomic writes: all or nothing, concurrent writers never share a temporary file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mllmshift.io.atomic import atomic_write_bytes, atomic_write_text


def test_writes_creates_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.json"
    atomic_write_text(target, "first ✓\n")
    assert target.read_text(encoding="utf-8") == "first ✓\n"
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("mllmshift.io.atomic.os.fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_concurrent_writers_each_leave_a_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    texts = [str(i) * 100_000 for i in range(8)]
    threads = [threading.Thread(target=atomic_write_text, args=(target, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_text() in texts  # one writer's whole text, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]


def test_atomic_open_streams_and_leaves_the_old_file_on_error(tmp_path):
    """One writer for streamed files too: the target changes only when the block ends without an error."""
    from mllmshift.io.atomic import atomic_open

    target = tmp_path / "rows.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w", encoding="utf-8") as fh:
            fh.write("half a new file\n")
            raise RuntimeError("killed while streaming")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]
    with atomic_open(target, "w", encoding="utf-8") as fh:
        for i in range(3):
            fh.write(f"{i}\n")
    assert target.read_text() == "0\n1\n2\n"
    with pytest.raises(ValueError, match="whole files"):
        with atomic_open(target, "a"):
            pass
