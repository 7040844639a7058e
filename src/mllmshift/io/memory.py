"""Splits from data already in memory: a list of dicts, a pandas ``DataFrame`` or a Hugging Face ``Dataset``.

:func:`read_memory` takes any of them, with the same column mapping as the Parquet / dataset reader
(:mod:`mllmshift.io.rows`): ``columns={"question": "prompt", "response": "answer"}``. Missing values
(None, or NaN in a data frame) count as absent. Errors name the source (``<DataFrame>``, ``<Dataset>``,
``<records>``), the row and the column.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.rows import column_mapping, split_from_rows
from mllmshift.records import Split


def _loaded(module: str, attr: str) -> type | None:
    """``module.attr`` when that module is already imported (an object of its type can only exist then)."""
    mod = sys.modules.get(module)
    return None if mod is None else vars(mod).get(attr)


def is_dataframe(data: Any) -> bool:
    cls = _loaded("pandas", "DataFrame")
    return cls is not None and isinstance(data, cls)


def is_hf_dataset(data: Any) -> bool:
    cls = _loaded("datasets", "Dataset")
    return cls is not None and isinstance(data, cls)


def is_records(data: Any) -> bool:
    return isinstance(data, Sequence) and not isinstance(data, (str, bytes)) and all(
        isinstance(r, Mapping) for r in data)


def _absent_nan(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def read_memory(data: Any, *, name: str = "data", columns: Mapping[str, str] | None = None,
                image_dir: str | os.PathLike[str] | None = None, allow_empty: bool = False,
                allow_mixed_visual: bool = False) -> Split:
    """A split from a list of dicts, a ``pandas.DataFrame`` or a ``datasets.Dataset`` (see the module docstring).

    ``image_dir``: where image values that are not paths (PIL images, bytes) are written once.
    """
    if is_dataframe(data):
        where, names = "<DataFrame>", [str(c) for c in data.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # to_dict would keep the last of the columns that share a name, silently
            raise DataError(f"columns {twice} appear more than once; a split needs one column per field",
                            path=where, field=twice[0])
        rows: list[dict[str, Any]] = [_absent_nan(r) for r in data.to_dict(orient="records")]
    elif is_hf_dataset(data):
        where, names = "<Dataset>", list(data.column_names)
        rows = [dict(r) for r in data]
    elif is_records(data):
        where = "<records>"
        rows = [dict(r) for r in data]
        names = sorted({k for r in rows for k in r})
    else:
        raise DataError(f"cannot read a {type(data).__name__}: give a path, a list of dicts, a pandas DataFrame or "
                        "a Hugging Face Dataset")
    mapping = column_mapping(columns, names, where)
    return split_from_rows(name, rows, names, mapping, where, None if image_dir is None else Path(image_dir),
                           {"format": "memory", "source": where}, allow_empty=allow_empty,
                           allow_mixed_visual=allow_mixed_visual)
