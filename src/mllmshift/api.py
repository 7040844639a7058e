"""The one-call Python API: ``mllmshift.evaluate(id=..., ood=[...])`` and ``mllmshift.emi(data)``.

Data may be a file path (any format ``mllmshift.io.read_split`` reads, with its ``format=`` and reader
options), a :class:`~mllmshift.records.Split`, a list of dicts, a pandas ``DataFrame`` or a Hugging Face
``Dataset``; ``columns=`` maps sample fields to columns (``{"question": "prompt", "response": "answer"}``).
Keyword arguments are :class:`~mllmshift.evaluation.config.EvalConfig` fields (``text_encoder="hashing-bow"``,
``estimator="club"``, ``n_resamples=200``, ``seed=1``, ``n_estimators=3``, ...; components may be names or
``{"name": ..., "options": {...}}``), or ``paper=True`` for the paper's estimators. The readers' checks
apply to every input, with their opt-ins as reader options (``reader={"allow_empty": True}``); data kept on
request is listed in ``StudyResult.warnings`` and also issued as a
:class:`~mllmshift.errors.MllmshiftWarning`. The results are the typed results every verb produces::

    import mllmshift
    result = mllmshift.evaluate(id="id.jsonl", ood=["frost_3.jsonl", "typos.jsonl"], n_resamples=200)
    result.scenario("frost_3").emid, result.scenario("frost_3").emid_ci
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import MllmshiftError, MllmshiftWarning
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.results import SplitResult, StudyResult
from mllmshift.records import Split

Data = Any  # a path, a Split, a list of dicts, a pandas DataFrame or a datasets.Dataset


def as_split(data: Data, *, name: str | None = None, columns: Mapping[str, str] | None = None,
             format: str = "auto", **reader_options: Any) -> Split:
    """A :class:`Split` from any accepted input (see the module docstring)."""
    if isinstance(data, Split):
        return data if name is None else data.renamed(name)
    if isinstance(data, (str, os.PathLike)):
        from mllmshift.io import read_split

        options = dict(reader_options)
        if columns is not None:
            options["columns"] = dict(columns)
        return read_split(data, format=format, name=name, **options)
    from mllmshift.evaluation.embedding import default_cache_dir
    from mllmshift.io.memory import read_memory

    checks = {k: reader_options.pop(k) for k in ("allow_empty", "allow_mixed_visual") if k in reader_options}
    if reader_options or format != "auto":
        raise MllmshiftError(f"reader options {sorted({*reader_options, *(['format'] if format != 'auto' else [])})} "
                             "apply to files; in-memory data takes columns=, allow_empty and allow_mixed_visual")
    return read_memory(data, name=name or "data", columns=columns, image_dir=default_cache_dir() / "images",
                       **checks)


def _warned(result: StudyResult) -> StudyResult:
    """``result``, its readers' warnings (data kept on request) issued as :class:`MllmshiftWarning`."""
    for w in result.warnings:
        warnings.warn(w, MllmshiftWarning, stacklevel=3)
    return result


def eval_config(paper: bool = False, **config: Any) -> EvalConfig:
    """An :class:`EvalConfig` from keyword fields (``paper=True``: the paper's estimators as the base)."""
    return EvalConfig.paper(**config) if paper else EvalConfig(**config)


def _scenarios(ood: Data | Sequence[Data] | Mapping[str, Data], columns: Mapping[str, str] | None,
               reader: Mapping[str, Any]) -> list[Split]:
    if isinstance(ood, Mapping):
        return [as_split(d, name=str(n), columns=columns, **reader) for n, d in ood.items()]
    if isinstance(ood, (str, os.PathLike, Split)) or not isinstance(ood, Sequence) or _one_table(ood):
        ood = [ood]
    named = [isinstance(d, (str, os.PathLike, Split)) for d in ood]
    return [as_split(d, name=None if named[i] else f"ood_{i}", columns=columns, **reader) for i, d in enumerate(ood)]


def _one_table(data: Sequence[Any]) -> bool:
    """A list of dicts is one split, not a list of splits."""
    from mllmshift.io.memory import is_records

    return bool(data) and is_records(data)


def evaluate(id: Data, ood: Data | Sequence[Data] | Mapping[str, Data], *, columns: Mapping[str, str] | None = None,
             cache_dir: str | os.PathLike[str] | None = None, progress: bool = False,
             log_samples: str | os.PathLike[str] | None = None, reader: Mapping[str, Any] | None = None,
             paper: bool = False, **config: Any) -> StudyResult:
    """EMI of the in-distribution data ``id``, and EMI, EMID and the bound of each shifted split in ``ood``.

    ``ood``: one input, a list of them, or a mapping name → input. In-memory inputs are named ``id`` and
    ``ood_<i>`` unless a mapping names them. ``cache_dir``: the embedding cache (default
    ``~/.cache/mllmshift``). ``log_samples``: a folder for per-sample rows. ``reader``: options for file
    readers (``format``, ``questions``, ``references``, ...) and the readers' opt-ins (``allow_empty``,
    ``allow_mixed_visual``, for in-memory data too). Returns a
    :class:`~mllmshift.evaluation.results.StudyResult` (no correlations: that is the study's job).
    """
    from mllmshift.evaluation.embedding import default_cache_dir, open_cache
    from mllmshift.evaluation.pipeline import EvalPlan, evaluate as run
    from mllmshift.evaluation.scenarios import scenario_of
    from mllmshift.progress import progress_for

    cfg = eval_config(paper, **config)
    opts = dict(reader or {})
    id_split = as_split(id, name=None if isinstance(id, (str, os.PathLike, Split)) else "id", columns=columns, **opts)
    scenarios = [scenario_of(s) for s in _scenarios(ood, columns, opts)]
    if not scenarios:
        raise MllmshiftError("evaluate needs at least one shifted split in ood")
    cache = open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    return _warned(run(EvalPlan(id_split, tuple(scenarios), cfg), cache=cache, progress=progress_for(progress),
                       sample_log=log_samples).result)


def emi(data: Data, *, columns: Mapping[str, str] | None = None, cache_dir: str | os.PathLike[str] | None = None,
        progress: bool = False, log_samples: str | os.PathLike[str] | None = None,
        reader: Mapping[str, Any] | None = None, paper: bool = False, **config: Any) -> SplitResult:
    """EMI of one split (its MI estimator fitted on its own pairs, or ``checkpoint=`` loaded)."""
    from mllmshift.evaluation.embedding import default_cache_dir, open_cache
    from mllmshift.evaluation.pipeline import EvalPlan, evaluate as run
    from mllmshift.progress import progress_for

    cfg = eval_config(paper, **config)
    split = as_split(data, name=None if isinstance(data, (str, os.PathLike, Split)) else "data", columns=columns,
                     **dict(reader or {}))
    cache = open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    return _warned(run(EvalPlan(split, (), cfg), cache=cache, progress=progress_for(progress),
                       sample_log=log_samples).result).id


def fit(data: Data | Sequence[Data] | Mapping[str, Data], save: str | os.PathLike[str], *, name: str | None = None,
        columns: Mapping[str, str] | None = None, cache_dir: str | os.PathLike[str] | None = None,
        progress: bool = False, reader: Mapping[str, Any] | None = None, paper: bool = False,
        **config: Any) -> Any:
    """Fit the MI estimator once on a declared fitting set (``data``: one input, a list, or a mapping name →
    input) and save it to ``save`` (``mllmshift fit``'s step, :mod:`mllmshift.evaluation.fit`); pass the file as
    ``checkpoint=`` to :func:`evaluate` / :func:`emi` so every EMI is relative to this one fit. Returns the
    :class:`~mllmshift.evaluation.artifact.EstimatorArtifact` (its ``fingerprint``, ``fit_set``, members)."""
    from mllmshift.evaluation.embedding import default_cache_dir, open_cache
    from mllmshift.evaluation.fit import fit_to_file
    from mllmshift.progress import progress_for

    cfg = eval_config(paper, **config)
    splits = _scenarios(data, columns, dict(reader or {}))
    cache = open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    return fit_to_file(splits, cfg, save, name=name, cache=cache, progress=progress_for(progress))
