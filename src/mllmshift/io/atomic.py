"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The data go to a temporary file in the same folder (named after the target, the process and the
thread, so concurrent writers never share one), are flushed to disk, and the temporary file is
renamed over the target (``os.replace`` is atomic on one file system). The folder is created if
missing. An interrupted write leaves the target as it was.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
