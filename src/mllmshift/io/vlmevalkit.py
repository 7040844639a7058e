"""VLMEvalKit prediction files (``<model>_<dataset>.xlsx``, ``.tsv`` or ``.csv``) as a split.

VLMEvalKit writes the benchmark's own table plus a ``prediction`` column.
Default column mapping (override any with ``columns={"reference": "gpt4_ans", ...}``):

- ``id`` ← ``index``; ``question`` ← ``question``; ``response`` ← ``prediction``;
- ``reference`` ← the first present of ``answer``, ``gpt4_ans``, ``gt_answer`` (optional);
- ``image`` ← ``image_path`` (a path) or ``image`` (base64, as in VLMEvalKit TSVs; a short value
  that equals another row's ``index`` means "the same image as that row"); decoded images are
  written once to ``image_dir`` under their content hash;
- ``image_text`` ← ``caption`` when present.

Multiple-choice tables (option columns ``A``, ``B``, ... and optional ``hint``) get the question
the model saw in VLMEvalKit's format: ``Hint: ...\\nQuestion: ...\\nOptions:\\nA. ...\\nB. ...``.
Errors name the file, the spreadsheet row (header = row 1) and the column.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError, MissingDependencyError
from mllmshift.io.checks import Origin, finish_split
from mllmshift.io.text import read_utf8
from mllmshift.records import Sample, Split

SUFFIXES = (".xlsx", ".tsv", ".csv")
REFERENCE_COLUMNS = ("answer", "gpt4_ans", "gt_answer")


def _table(p: Path) -> Any:
    try:
        import pandas as pd
    except ModuleNotFoundError as err:
        raise MissingDependencyError("reading VLMEvalKit predictions", "pandas", "data") from err
    try:
        if p.suffix == ".xlsx":
            return pd.read_excel(p, dtype=object)
        text = read_utf8(p)  # a Latin-1 table is a located error, not pandas' decoding message
        return pd.read_csv(io.StringIO(text), sep="\t" if p.suffix == ".tsv" else ",", dtype=object,
                           keep_default_na=True)
    except ImportError as err:  # openpyxl missing
        raise MissingDependencyError("reading .xlsx predictions", "openpyxl", "data") from err
    except DataError:
        raise
    except Exception as err:  # pandas raises many types for corrupt tables
        raise DataError(f"cannot read table: {err}", path=p) from None


def _value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and v != v:  # NaN: an empty cell
        return None
    return v


def _as_text(v: Any) -> str | None:
    v = _value(v)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def _write_image(b64: str, image_dir: Path) -> str:
    from mllmshift.io.hf import store_image_bytes

    return store_image_bytes(base64.b64decode(b64, validate=True), image_dir)


def read_vlmevalkit(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    columns: Mapping[str, str] | None = None,
    image_dir: str | os.PathLike[str] | None = None,
    task: str | None = None,
    allow_empty: bool = False,
    allow_mixed_visual: bool = False,
) -> Split:
    """Read a VLMEvalKit prediction table, or the table of dataset ``task`` in a work dir (``--work-dir``, or one
    model's folder in it: :func:`mllmshift.io.run_folders.pick_vlmevalkit_table`), into a split (see the module
    docstring)."""
    p = Path(path)
    if p.is_dir():
        from mllmshift.io.run_folders import pick_vlmevalkit_table

        p, dataset = pick_vlmevalkit_table(p, task)
        name = name or dataset
    elif task is not None:
        raise DataError("--task picks a dataset in a work dir; this is one prediction table", path=p, field="--task")
    if not p.is_file():
        raise DataError("file not found", path=p)
    if p.suffix not in SUFFIXES:
        raise DataError(f"expected one of {SUFFIXES}", path=p)
    df = _table(p)
    names = [str(c) for c in df.columns]
    df.columns = names
    mapping = {"id": "index", "question": "question", "response": "prediction"}
    ref_col = next((c for c in REFERENCE_COLUMNS if c in names), None)
    if ref_col:
        mapping["reference"] = ref_col
    if "image_path" in names:
        mapping["image"] = "image_path"
    elif "image" in names:
        mapping["image"] = "image"
    if "caption" in names:
        mapping["image_text"] = "caption"
    unknown = set(columns or {}) - {"id", "question", "response", "reference", "image", "image_text"}
    if unknown:
        raise DataError(f"column mapping names unknown fields {sorted(unknown)}", path=p)
    mapping.update(columns or {})
    for fld, col in mapping.items():
        if col not in names:
            raise DataError(f"no column '{col}' (columns: {names})", path=p, field=col)
    options = [c for c in string.ascii_uppercase if c in names]
    img_dir = Path(image_dir) if image_dir is not None else p.parent / f".{p.name}.images"
    twice = sorted({str(n) for n in df.columns if list(df.columns).count(n) > 1})
    if twice:  # to_dict would keep the last of the columns that share a name, silently
        raise DataError(f"columns {twice} appear more than once; a split needs one column per field", path=p,
                        field=twice[0])
    rows = df.to_dict(orient="records")
    index_of = {_as_text(r[mapping["id"]]): r for r in rows}
    used = set(mapping.values()) | set(options) | {"hint"}
    samples: list[Sample] = []
    origins: list[Origin] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        rowno = i + 2  # the header is row 1
        sid = _as_text(row[mapping["id"]])
        if sid is None:
            raise DataError("missing", path=p, line=rowno, field=mapping["id"])
        if sid in seen:
            raise DataError(f"duplicate id '{sid}' (first in row {seen[sid]})", path=p, line=rowno,
                            field=mapping["id"])
        seen[sid] = rowno
        question = _as_text(row[mapping["question"]])
        if question is None:
            raise DataError("missing", path=p, line=rowno, field=mapping["question"])
        response = _as_text(row[mapping["response"]])
        if response is None:
            raise DataError("missing (no prediction for this row)", path=p, line=rowno, field=mapping["response"])
        opts = [(c, _as_text(row[c])) for c in options]
        opts = [(c, t) for c, t in opts if t is not None]
        if opts:
            hint = _as_text(row.get("hint"))
            question = (f"Hint: {hint}\n" if hint else "") + f"Question: {question}\nOptions:\n" + \
                "\n".join(f"{c}. {t}" for c, t in opts)
        image: str | None = None
        if "image" in mapping:
            raw = _as_text(row[mapping["image"]])
            if raw is not None and mapping["image"] == "image_path":
                image = raw if os.path.isabs(raw) else str(p.parent / raw)
            elif raw is not None:
                if len(raw) <= 64 and raw in index_of and raw != sid:  # "same image as row <raw>"
                    raw = _as_text(index_of[raw][mapping["image"]]) or ""
                try:
                    image = _write_image(raw, img_dir)
                except (binascii.Error, ValueError):
                    raise DataError("not base64 image data", path=p, line=rowno, field=mapping["image"]) from None
        reference = _as_text(row[mapping["reference"]]) if "reference" in mapping else None
        image_text = _as_text(row[mapping["image_text"]]) if "image_text" in mapping else None
        metadata = {k: _value(v) for k, v in row.items()
                    if k not in used and isinstance(_value(v), (str, int, float, bool))}
        samples.append(Sample(id=sid, question=question, response=response, reference=reference, image=image,
                              image_text=image_text, metadata=metadata))
        origins.append(Origin(p, rowno, {f: (p, rowno, col) for f, col in mapping.items()}))
    if not samples:
        raise DataError("no rows", path=p)
    return finish_split(name or p.stem, samples, origins, {"format": "vlmevalkit", "source": str(p)},
                        allow_empty=allow_empty, allow_mixed_visual=allow_mixed_visual)
