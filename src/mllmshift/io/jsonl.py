"""JSON Lines helpers and the canonical sample format.

A canonical record is one JSON object a line with the fields of
:class:`~mllmshift.records.Sample`: ``id`` and ``question`` are required;
``response``, ``reference``, ``image``, ``image_text`` and ``metadata`` are
optional. A relative ``image`` path is resolved against the file's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.checks import Origin, finish_split, sample_id
from mllmshift.io.strict_json import JsonProblem
from mllmshift.io.strict_json import loads as strict_loads
from mllmshift.records import Sample, Split


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file.

    Raises :class:`DataError` naming the file and line for a missing file, bad
    UTF-8, bad JSON or a line that is not a JSON object.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("file not found" if not p.exists() else "not a file", path=p)
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"not valid UTF-8 ({err.reason} at byte {err.start})", path=p, line=lineno) from None
            if not text.strip():
                continue
            try:
                obj = strict_loads(text)
            except json.JSONDecodeError as err:
                raise DataError(f"bad JSON: {err.msg} (column {err.colno})", path=p, line=lineno) from None
            except JsonProblem as err:
                raise DataError(err.message, path=p, line=lineno, field=err.field) from None
            if not isinstance(obj, dict):
                raise DataError(f"expected a JSON object, got {type(obj).__name__}", path=p, line=lineno)
            yield lineno, obj


def require_field(obj: dict[str, Any], name: str, path: Path | str, line: int, *, kinds: tuple[type, ...] = (str,),
                  optional: bool = False) -> Any:
    """``obj[name]`` checked for presence and type, else a located :class:`DataError`."""
    if name not in obj or obj[name] is None:
        if optional:
            return None
        raise DataError("missing", path=path, line=line, field=name)
    value = obj[name]
    if kinds and not isinstance(value, kinds):
        want = " or ".join(k.__name__ for k in kinds)
        raise DataError(f"expected {want}, got {type(value).__name__}", path=path, line=line, field=name)
    return value


def read_canonical(path: str | os.PathLike[str], name: str | None = None, *, allow_empty: bool = False,
                   allow_mixed_visual: bool = False) -> Split:
    """Read a canonical JSONL file into a :class:`Split` named after the file.

    The checks of :mod:`mllmshift.io.checks` apply (ids, empty answers, one visual input per split);
    ``allow_empty`` and ``allow_mixed_visual`` relax the last two, with warnings in the metadata.
    """
    p = Path(path)
    samples: list[Sample] = []
    origins: list[Origin] = []
    seen: dict[str, int] = {}
    for lineno, obj in iter_jsonl(p):
        require_field(obj, "id", p, lineno, kinds=())
        sid = sample_id(obj["id"], path=p, line=lineno)
        if sid in seen:
            raise DataError(f"duplicate id '{sid}' (first on line {seen[sid]})", path=p, line=lineno, field="id")
        seen[sid] = lineno
        image = require_field(obj, "image", p, lineno, optional=True)
        if image is not None and not os.path.isabs(image):
            image = str(p.parent / image)
        metadata = require_field(obj, "metadata", p, lineno, kinds=(dict,), optional=True) or {}
        samples.append(
            Sample(
                id=sid,
                question=require_field(obj, "question", p, lineno),
                response=require_field(obj, "response", p, lineno, optional=True),
                reference=require_field(obj, "reference", p, lineno, optional=True),
                image=image,
                image_text=require_field(obj, "image_text", p, lineno, optional=True),
                metadata=metadata,
            )
        )
        origins.append(Origin(p, lineno))
    return finish_split(name or p.stem, samples, origins, {"source": str(p), "format": "jsonl"},
                        allow_empty=allow_empty, allow_mixed_visual=allow_mixed_visual)


def write_jsonl_atomic(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Write records to ``path`` atomically, streamed one line at a time (:func:`mllmshift.io.atomic.atomic_open`)."""
    from mllmshift.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_canonical(split: Split, path: str | os.PathLike[str]) -> None:
    """Write a split as canonical JSONL (atomically)."""
    write_jsonl_atomic(path, (s.to_dict() for s in split))
