"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The data go to a temporary file in the same folder (named after the target, the process and the
thread, so concurrent writers never share one), are flushed to disk, and the temporary file is
renamed over the target (``os.replace`` is atomic on one file system). The folder is created if
missing. An interrupted write leaves the target as it was.

:func:`atomic_open` is the one implementation: a file handle to stream into (JSON lines, PNGs,
``numpy.save``); :func:`atomic_write_bytes` and :func:`atomic_write_text` write whole contents through it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (``"wb"`` or ``"w"``); when the block ends without an
    error it is flushed, synced and renamed over ``path``, otherwise removed."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files: mode 'wb' or 'w', got {mode!r}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


class Outputs:
    """The files (and folders) one command creates, removed again if the command fails.

    Use as ``with Outputs() as outs: outs.write_bytes(path, data)`` or ``outs.claim(path)`` before
    writing ``path`` some other way (atomically). If the block raises, every file claimed in it is
    deleted and every folder it created is removed again when empty, so a failed command leaves
    nothing partial behind. Files that existed before are never deleted.
    """

    def __init__(self) -> None:
        self._files: list[Path] = []
        self._dirs: list[Path] = []

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            return
        for f in reversed(self._files):
            f.unlink(missing_ok=True)
        for d in reversed(self._dirs):
            try:
                d.rmdir()
            except OSError:  # not empty (someone else's files), or already gone
                pass

    def mkdir(self, folder: str | os.PathLike[str]) -> Path:
        """Create ``folder`` and its missing parents, remembering the ones created here."""
        p = Path(folder)
        missing = [q for q in (p, *p.parents) if not q.exists()]
        p.mkdir(parents=True, exist_ok=True)
        self._dirs.extend(reversed(missing))
        return p

    def claim(self, path: str | os.PathLike[str]) -> Path:
        """Register ``path`` (not there yet) as this command's output; create its folder."""
        p = Path(path)
        self.mkdir(p.parent)
        if not p.exists():
            self._files.append(p)
        return p

    def write_bytes(self, path: str | os.PathLike[str], data: bytes) -> Path:
        p = self.claim(path)
        atomic_write_bytes(p, data)
        return p

    def write_text(self, path: str | os.PathLike[str], text: str) -> Path:
        return self.write_bytes(path, text.encode("utf-8"))


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``-``, ``_`` and ``.`` replaced by ``_`` (a file name)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
