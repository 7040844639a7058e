"""Hugging Face ``datasets`` datasets saved to disk, and Parquet files, with a column mapping.

The mapping names, for each :class:`~mllmshift.records.Sample` field, the
column that holds it (``{"id": "question_id", "question": "prompt", ...}``).
Unmapped fields default to a column of the same name when one exists. Image
columns may hold a path, or a ``datasets`` Image value (a PIL image or a
``{"bytes": ..., "path": ...}`` dict), which is written once to
``image_dir`` under its content hash so the rest of the pipeline sees paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError, MissingDependencyError
from mllmshift.io.rows import column_mapping, split_from_rows, store_image_bytes
from mllmshift.records import Split

__all__ = ["read_hf", "store_image_bytes"]


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
    names, rows = _rows(p, split)
    mapping = column_mapping(columns, names, p)
    img_dir = Path(image_dir) if image_dir is not None else p.parent / f".{p.name}.images"
    return split_from_rows(name or p.stem, rows, names, mapping, p, img_dir,
                           {"format": "hf", "source": str(p), "split": split}, allow_empty=allow_empty,
                           allow_mixed_visual=allow_mixed_visual)
