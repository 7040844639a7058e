"""Rows of named columns (a table, a dataset, a data frame, dicts) → samples, through a column mapping.

The mapping names, for each :class:`~mllmshift.records.Sample` field, the column that holds it
(``{"id": "question_id", "question": "prompt", ...}``). Unmapped fields default to a column of the same
name when one exists; ``id`` and ``question`` are required. Other columns with plain values become the
sample's metadata. Image columns may hold a path, or an image value (a PIL image or a
``{"bytes": ..., "path": ...}`` dict, as ``datasets`` gives), which is written once to ``image_dir``
under its content hash so the rest of the pipeline sees paths. Errors name the source, the row (as the
line) and the column. The split then passes the readers' checks (:mod:`mllmshift.io.checks`: ids,
empty answers, one visual input), with the same opt-ins.
"""

from __future__ import annotations

import hashlib
import io as _io
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.checks import Origin, finish_split, sample_id
from mllmshift.records import Sample, Split

FIELDS = ("id", "question", "response", "reference", "image", "image_text")
REQUIRED = ("id", "question")


def column_mapping(columns: Mapping[str, str] | None, names: Sequence[str], where: str | os.PathLike[str]
                   ) -> dict[str, str]:
    """Field → column for every field, checked against the available column ``names``."""
    mapping = dict(columns or {})
    unknown = set(mapping) - set(FIELDS) - {"metadata"}
    if unknown:
        raise DataError(f"column mapping names unknown fields {sorted(unknown)}; fields are {list(FIELDS)}",
                        path=where)
    for field in FIELDS:
        mapping.setdefault(field, field)
    for field, col in mapping.items():
        if field == "metadata":
            continue
        if col not in names and (field in REQUIRED or field in (columns or {})):
            raise DataError(f"no column '{col}' (columns: {list(names)})", path=where, field=field)
    return mapping


def image_to_path(value: Any, image_dir: Path) -> str:
    """A path for an image value: a path as is; a PIL image or ``{"bytes": ...}`` written to ``image_dir``."""
    if isinstance(value, str):
        return value
    data: bytes | None = None
    if isinstance(value, Mapping):
        if value.get("bytes"):
            data = value["bytes"]
        elif value.get("path"):
            return str(value["path"])
    elif _is_pil_image(value):
        buf = _io.BytesIO()
        value.save(buf, format="PNG")
        data = buf.getvalue()
    if data is None:
        raise ValueError(f"cannot turn a {type(value).__name__} into an image path")
    return store_image_bytes(data, image_dir)


def store_image_bytes(data: bytes, image_dir: Path) -> str:
    """Write image bytes once to ``image_dir/<sha256>.img`` (atomically) and return the path."""
    digest = hashlib.sha256(data).hexdigest()[:32]
    image_dir.mkdir(parents=True, exist_ok=True)
    out = image_dir / f"{digest}.img"
    if not out.exists():
        from mllmshift.io.atomic import atomic_write_bytes

        atomic_write_bytes(out, data)
    return str(out)


def split_from_rows(name: str, rows: Iterable[Mapping[str, Any]], names: Sequence[str], mapping: Mapping[str, str],
                    where: str | os.PathLike[str], image_dir: Path | None, metadata: Mapping[str, Any], *,
                    allow_empty: bool = False, allow_mixed_visual: bool = False) -> Split:
    """One sample per row (see the module docstring), checked by :func:`mllmshift.io.checks.finish_split`.

    ``image_dir`` None refuses image values that are not paths; ``allow_empty`` / ``allow_mixed_visual``
    are the readers' opt-ins (recorded as warnings in the split's metadata).
    """
    used = {c for f, c in mapping.items() if f != "metadata"}
    samples: list[Sample] = []
    origins: list[Origin] = []
    seen: dict[str, int] = {}
    for row_no, row in enumerate(rows, start=1):
        values: dict[str, Any] = {}
        for field in FIELDS:
            col = mapping[field]
            v = row.get(col) if col in names else None
            if v is None and field in REQUIRED:
                raise DataError("missing", path=where, line=row_no, field=col)
            values[field] = v
        sid = sample_id(values["id"], path=where, line=row_no, field=mapping["id"])
        if sid in seen:
            raise DataError(f"duplicate id '{sid}' (first in row {seen[sid]})", path=where, line=row_no,
                            field=mapping["id"])
        seen[sid] = row_no
        for field in ("question", "response", "reference", "image_text"):
            if values[field] is not None and not isinstance(values[field], str):
                raise DataError(f"expected str, got {type(values[field]).__name__}", path=where, line=row_no,
                                field=mapping[field])
        if values["image"] is not None:
            if image_dir is None and not isinstance(values["image"], str):
                raise DataError("an image value that is not a path needs an image folder to be written to",
                                path=where, line=row_no, field=mapping["image"])
            try:
                values["image"] = image_to_path(values["image"], image_dir)  # type: ignore[arg-type]
            except ValueError as err:
                raise DataError(str(err), path=where, line=row_no, field=mapping["image"]) from None
        metadata = {k: v for k, v in row.items() if k not in used and _plain(v)}
        samples.append(Sample(id=sid, question=values["question"], response=values["response"],
                              reference=values["reference"], image=values["image"],
                              image_text=values["image_text"], metadata=metadata))
        origins.append(Origin(where, row_no, {f: (where, row_no, mapping[f]) for f in FIELDS}))
    if not samples:
        raise DataError("no rows", path=where)
    return finish_split(name, samples, origins, metadata, allow_empty=allow_empty,
                        allow_mixed_visual=allow_mixed_visual)


def _is_pil_image(value: Any) -> bool:
    pil = sys.modules.get("PIL.Image")  # a PIL image exists only once PIL is imported
    return pil is not None and isinstance(value, pil.Image)


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))
