"""Reading text files as UTF-8, with the line and byte of the first bad byte in the error."""

from __future__ import annotations

import os
from pathlib import Path

from mllmshift.errors import DataError


def decode_utf8(data: bytes, path: str | os.PathLike[str] | None = None) -> str:
    """``data`` decoded as UTF-8 (a leading byte-order mark dropped), or a :class:`DataError` that names
    the line and the byte offset of the first invalid byte (e.g. a Latin-1 file)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"not valid UTF-8 ({err.reason}: byte 0x{data[err.start]:02x} at offset {err.start}); "
                        "save the file as UTF-8", path=path, line=line) from None


def read_utf8(path: str | os.PathLike[str], what: str = "file") -> str:
    """The text of ``path`` (see :func:`decode_utf8`); a missing path or a folder is a located error."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} not found" if not p.exists() else f"{what} is not a file", path=p)
    return decode_utf8(p.read_bytes(), p)
