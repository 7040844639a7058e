"""One entry point that reads a split from any supported format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.jsonl import iter_jsonl, read_canonical
from mllmshift.records import Split

FORMATS = ("auto", "jsonl", "llava", "hf", "lmms-eval", "vlmevalkit", "alpaca-eval", "lm-eval-harness")


def sniff_format(path: str | os.PathLike[str]) -> str:
    """Guess the format of ``path``: ``alpaca-eval`` for an AlpacaEval ``model_outputs.json`` (or a folder
    holding one), ``hf`` for Parquet or other folders, ``vlmevalkit`` for xlsx/tsv/csv, ``lmms-eval`` for other
    .json, else by the first JSONL record."""
    from mllmshift.io.alpaca_eval import FILE_NAME, looks_like_alpaca_eval
    from mllmshift.io.lmms_eval import looks_like_lmms_eval

    p = Path(path)
    if p.is_dir() and (p / FILE_NAME).is_file():
        return "alpaca-eval"
    from mllmshift.io.run_folders import HARNESS_SAMPLES, is_run_folder

    tool = is_run_folder(p)  # an lmms-eval / lm-eval-harness output folder or a VLMEvalKit work dir
    if tool is not None:
        return tool
    if HARNESS_SAMPLES.match(p.name):
        return "lm-eval-harness"
    if p.is_dir() or p.suffix == ".parquet":
        return "hf"
    if p.suffix == ".json" and looks_like_alpaca_eval(p):
        return "alpaca-eval"
    if p.suffix in (".xlsx", ".tsv", ".csv"):
        return "vlmevalkit"
    if p.suffix == ".json":
        return "lmms-eval"
    for _, obj in iter_jsonl(p):
        if looks_like_lmms_eval(obj):
            return "lmms-eval"
        if "question_id" in obj and "id" not in obj:
            return "llava"
        return "jsonl"
    raise DataError("no records", path=p)


def read_split(path: str | os.PathLike[str], format: str = "auto", *, name: str | None = None,
               allow_empty: bool = False, allow_mixed_visual: bool = False, **options: Any) -> Split:
    """Read a split.

    Args:
        path: a canonical JSONL file, a LLaVA responses file, an AlpacaEval ``model_outputs.json`` (or its
            folder), an lmms-eval log, a VLMEvalKit table, a Parquet file or a saved dataset folder.
        format: ``auto`` (sniffed), or one of :data:`FORMATS`.
        allow_empty: keep empty or whitespace-only answers (with a warning in the split's metadata);
            by default they are a located error (:mod:`mllmshift.io.checks`).
        allow_mixed_visual: accept a split where only some samples have an image (or a caption),
            with a warning; by default a located error.
        options: passed to the reader: for ``llava`` ``questions``, ``references``,
            ``captions``, ``image_folder``; for ``alpaca-eval`` ``references`` (the baseline model's file,
            joined on ``instruction``) and ``strict``; for ``hf`` ``columns``, ``split``, ``image_dir``.
    """
    if format not in FORMATS:
        raise DataError(f"unknown format '{format}'; choose from {', '.join(FORMATS)}", field="format")
    fmt = sniff_format(path) if format == "auto" else format
    checks = {"allow_empty": allow_empty, "allow_mixed_visual": allow_mixed_visual}
    if fmt == "jsonl":
        if options:
            raise DataError(f"the canonical JSONL reader takes no options, got {sorted(options)}", path=path)
        return read_canonical(path, name=name, **checks)
    if fmt == "llava":
        from mllmshift.io.llava import read_llava

        return read_llava(path, name=name, **checks, **options)
    if fmt == "alpaca-eval":
        from mllmshift.io.alpaca_eval import read_alpaca_eval

        return read_alpaca_eval(path, name=name, **checks, **options)
    if fmt == "lmms-eval":
        from mllmshift.io.lmms_eval import read_lmms_eval

        return read_lmms_eval(path, name=name, **checks, **options)
    if fmt == "lm-eval-harness":
        from mllmshift.io.lm_eval_harness import read_lm_eval_harness

        return read_lm_eval_harness(path, name=name, **checks, **options)
    if fmt == "vlmevalkit":
        from mllmshift.io.vlmevalkit import read_vlmevalkit

        return read_vlmevalkit(path, name=name, **checks, **options)
    from mllmshift.io.hf import read_hf

    return read_hf(path, name=name, **checks, **options)
