"""One entry point that reads a split from any supported format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.jsonl import iter_jsonl, read_canonical
from mllmshift.records import Split

FORMATS = ("auto", "jsonl", "llava", "hf")


def sniff_format(path: str | os.PathLike[str]) -> str:
    """Guess the format of ``path``: ``hf`` for Parquet or folders, else by the first JSONL record."""
    p = Path(path)
    if p.is_dir() or p.suffix == ".parquet":
        return "hf"
    for _, obj in iter_jsonl(p):
        if "question_id" in obj and "id" not in obj:
            return "llava"
        return "jsonl"
    raise DataError("no records", path=p)


def read_split(path: str | os.PathLike[str], format: str = "auto", *, name: str | None = None,
               **options: Any) -> Split:
    """Read a split.

    Args:
        path: a canonical JSONL file, a LLaVA responses file, a Parquet file or a saved dataset folder.
        format: ``auto`` (sniffed), ``jsonl``, ``llava`` or ``hf``.
        options: passed to the reader: for ``llava`` ``questions``, ``references``,
            ``captions``, ``image_folder``; for ``hf`` ``columns``, ``split``, ``image_dir``.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format '{format}'; choose from {FORMATS}")
    fmt = sniff_format(path) if format == "auto" else format
    if fmt == "jsonl":
        if options:
            raise ValueError(f"the canonical JSONL reader takes no options, got {sorted(options)}")
        return read_canonical(path, name=name)
    if fmt == "llava":
        from mllmshift.io.llava import read_llava

        return read_llava(path, name=name, **options)
    from mllmshift.io.hf import read_hf

    return read_hf(path, name=name, **options)
