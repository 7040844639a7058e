"""Hugging Face ``datasets`` datasets saved to disk, and Parquet files, with a column mapping.

The mapping names, for each :class:`~mllmshift.records.Sample` field, the
column that holds it (``{"id": "question_id", "question": "prompt", ...}``).
Unmapped fields default to a column of the same name when one exists. Image
columns may hold a path, or a ``datasets`` Image value (a PIL image or a
``{"bytes": ..., "path": ...}`` dict), which is written once to
``image_dir`` under its content hash so the rest of the pipeline sees paths.
"""

from __future__ import annotations

import hashlib
import io as _io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError, MissingDependencyError
from mllmshift.io.checks import Origin, finish_split, sample_id
from mllmshift.records import Sample, Split

FIELDS = ("id", "question", "response", "reference", "image", "image_text")
REQUIRED = ("id", "question")


def _rows(path: Path, split: str | None) -> tuple[list[str], Iterator[dict[str, Any]]]:
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ModuleNotFoundError as err:
            raise MissingDependencyError("reading Parquet", "pyarrow", "data") from err
        try:
            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise DataError(f"cannot read Parquet: {err}", path=path) from None
        return table.column_names, iter(table.to_pylist())
    try:
        import datasets
    except ModuleNotFoundError as err:
        raise MissingDependencyError("reading a saved Hugging Face dataset", "datasets", "data") from err
    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as err:
        raise DataError(f"not a dataset saved with save_to_disk: {err}", path=path) from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) != 1:
                raise DataError(f"dataset has splits {list(ds)}; choose one with split=...", path=path)
            split = next(iter(ds))
        if split not in ds:
            raise DataError(f"no split '{split}'; has {list(ds)}", path=path)
        ds = ds[split]
    return list(ds.column_names), iter(ds)


def _image_to_path(value: Any, image_dir: Path) -> str:
    if isinstance(value, str):
        return value
    data: bytes | None = None
    if isinstance(value, Mapping):
        if value.get("bytes"):
            data = value["bytes"]
        elif value.get("path"):
            return str(value["path"])
    elif hasattr(value, "save"):  # a PIL image
        buf = _io.BytesIO()
        value.save(buf, format="PNG")
        data = buf.getvalue()
    if data is None:
        raise TypeError(f"cannot turn a {type(value).__name__} into an image path")
    return store_image_bytes(data, image_dir)


def store_image_bytes(data: bytes, image_dir: Path) -> str:
    """Write image bytes once to ``image_dir/<sha256>.img`` (atomically) and return the path."""
    digest = hashlib.sha256(data).hexdigest()[:32]
    image_dir.mkdir(parents=True, exist_ok=True)
    out = image_dir / f"{digest}.img"
    if not out.exists():
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, out)
    return str(out)


def read_hf(
    path: str | os.PathLike[str],
    columns: Mapping[str, str] | None = None,
    *,
    split: str | None = None,
    name: str | None = None,
    image_dir: str | os.PathLike[str] | None = None,
    allow_empty: bool = False,
    allow_mixed_visual: bool = False,
) -> Split:
    """Read a saved ``datasets`` dataset (folder) or a Parquet file into a :class:`Split`.

    Rows are numbered from 1 in errors; the checks of :mod:`mllmshift.io.checks` apply.
    """
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", path=p)
    mapping = dict(columns or {})
    unknown = set(mapping) - set(FIELDS) - {"metadata"}
    if unknown:
        raise DataError(f"column mapping names unknown fields {sorted(unknown)}; fields are {list(FIELDS)}", path=p)
    names, rows = _rows(p, split)
    for field in FIELDS:
        mapping.setdefault(field, field)
    for field, col in mapping.items():
        if field == "metadata":
            continue
        if col not in names and (field in REQUIRED or field in (columns or {})):
            raise DataError(f"no column '{col}' (columns: {names})", path=p, field=field)
    img_dir = Path(image_dir) if image_dir is not None else p.parent / f".{p.name}.images"
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
                raise DataError("missing", path=p, line=row_no, field=col)
            values[field] = v
        sid = sample_id(values["id"], path=p, line=row_no, field=mapping["id"])
        if sid in seen:
            raise DataError(f"duplicate id '{sid}' (first in row {seen[sid]})", path=p, line=row_no,
                            field=mapping["id"])
        seen[sid] = row_no
        for field in ("question", "response", "reference", "image_text"):
            if values[field] is not None and not isinstance(values[field], str):
                raise DataError(f"expected str, got {type(values[field]).__name__}", path=p, line=row_no,
                                field=mapping[field])
        if values["image"] is not None:
            try:
                values["image"] = _image_to_path(values["image"], img_dir)
            except TypeError as err:
                raise DataError(str(err), path=p, line=row_no, field=mapping["image"]) from None
        metadata = {k: v for k, v in row.items() if k not in used and _jsonable(v)}
        samples.append(Sample(id=sid, question=values["question"], response=values["response"],
                              reference=values["reference"], image=values["image"],
                              image_text=values["image_text"], metadata=metadata))
        origins.append(Origin(p, row_no, {f: (p, row_no, mapping[f]) for f in FIELDS}))
    if not samples:
        raise DataError("no rows", path=p)
    return finish_split(name or p.stem, samples, origins, {"format": "hf", "source": str(p), "split": split},
                        allow_empty=allow_empty, allow_mixed_visual=allow_mixed_visual)


def _jsonable(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))
