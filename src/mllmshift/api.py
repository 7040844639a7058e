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

import logging
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

log = logging.getLogger(__name__)


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


def eval_config(paper: bool = False, *, _caller: str = "eval_config", _own: Sequence[str] = (),
                **config: Any) -> EvalConfig:
    """An :class:`EvalConfig` from keyword fields (``paper=True``: the paper's estimators as the base), resolved
    as the command line's flags are (:func:`mllmshift.settings.resolve`) and checked runnable here.

    A keyword that is no field raises a ``TypeError`` that names it, suggests the closest valid keyword and lists
    them all (the call's own keywords ``_own`` and the config's fields), instead of the dataclass's bare error.
    """
    from mllmshift.settings import resolve

    check_keywords(config, _caller, _own)
    return resolve({**config, "paper": paper}, runnable=True, flags_from="python")


def check_keywords(given: Mapping[str, Any], caller: str, own: Sequence[str] = ()) -> None:
    """Raise ``TypeError`` for keywords of ``given`` that are not :class:`EvalConfig` fields."""
    import dataclasses
    import difflib

    fields = [f.name for f in dataclasses.fields(EvalConfig) if f.init]
    unknown = [k for k in given if k not in fields]
    if not unknown:
        return
    valid = sorted({*own, *fields})
    hints = []
    for k in unknown:
        close = difflib.get_close_matches(k, valid, n=1, cutoff=0.6)
        hints.append(f"'{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise TypeError(f"{caller}() got unexpected keyword argument(s) {', '.join(hints)}; valid keywords: "
                    f"{', '.join(valid)}")


#: the keywords of evaluate() and emi() themselves, besides EvalConfig's fields
_EVALUATE_OWN = ("id", "ood", "columns", "cache_dir", "progress", "log_samples", "log_samples_text", "reader",
                 "paper")
_FIT_OWN = ("data", "save", "name", "columns", "cache_dir", "progress", "reader", "paper")
_EMI_OWN = ("data", "columns", "cache_dir", "progress", "log_samples", "log_samples_text", "reader", "paper")


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
             paper: bool = False, log_samples_text: bool = False, **config: Any) -> StudyResult:
    """EMI of the in-distribution data ``id``, and EMI, EMID and the bound of each shifted split in ``ood``.

    ``ood``: one input, a list of them, or a mapping name → input. In-memory inputs are named ``id`` and
    ``ood_<i>`` unless a mapping names them. ``cache_dir``: the embedding cache (default
    ``~/.cache/mllmshift``). ``log_samples``: a folder for per-sample rows (``log_samples_text``: with each
    sample's question, response and reference). ``reader``: options for file
    readers (``format``, ``questions``, ``references``, ...) and the readers' opt-ins (``allow_empty``,
    ``allow_mixed_visual``, for in-memory data too). Returns a
    :class:`~mllmshift.evaluation.results.StudyResult` (no correlations: that is the study's job).
    """
    from mllmshift.evaluation.embedding import default_cache_dir, open_cache
    from mllmshift.evaluation.pipeline import EvalPlan, evaluate as run
    from mllmshift.evaluation.scenarios import scenario_of
    from mllmshift.progress import progress_for

    cfg = eval_config(paper, _caller="evaluate", _own=_EVALUATE_OWN, **config)
    opts = dict(reader or {})
    call = {"id": id, "ood": ood, "columns": columns, "log_samples": log_samples, "reader": reader,
            "paper": paper or None, **config}
    from mllmshift.evaluation.sample_text import sample_texts

    with _invocation("evaluate", call), sample_texts(log_samples_text):
        id_split = as_split(id, name=None if isinstance(id, (str, os.PathLike, Split)) else "id", columns=columns,
                            **opts)
        scenarios = [scenario_of(s) for s in _scenarios(ood, columns, opts)]
        if not scenarios:
            raise MllmshiftError("evaluate needs at least one shifted split in ood")
        cache = open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
        log.info("evaluate: ID '%s' (%d samples) against %d shifted split(s); MI %s x%d, JSD %s, seed %d",
                 id_split.name, len(id_split), len(scenarios), cfg.estimator.name, cfg.n_estimators,
                 cfg.divergence.name, cfg.seed)
        return _warned(_recorded(run(EvalPlan(id_split, tuple(scenarios), cfg), cache=cache,
                                     progress=progress_for(progress), sample_log=log_samples).result))


def emi(data: Data, *, columns: Mapping[str, str] | None = None, cache_dir: str | os.PathLike[str] | None = None,
        progress: bool = False, log_samples: str | os.PathLike[str] | None = None,
        reader: Mapping[str, Any] | None = None, paper: bool = False, log_samples_text: bool = False,
        **config: Any) -> SplitResult:
    """EMI of one split (its MI estimator fitted on its own pairs, or ``checkpoint=`` loaded)."""
    from mllmshift.evaluation.embedding import default_cache_dir, open_cache
    from mllmshift.evaluation.pipeline import EvalPlan, evaluate as run
    from mllmshift.progress import progress_for

    cfg = eval_config(paper, _caller="emi", _own=_EMI_OWN, **config)
    call = {"data": data, "columns": columns, "log_samples": log_samples, "reader": reader, "paper": paper or None,
            **config}
    from mllmshift.evaluation.sample_text import sample_texts

    with _invocation("emi", call), sample_texts(log_samples_text):
        split = as_split(data, name=None if isinstance(data, (str, os.PathLike, Split)) else "data",
                         columns=columns, **dict(reader or {}))
        cache = open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
        return _warned(run(EvalPlan(split, (), cfg), cache=cache, progress=progress_for(progress),
                           sample_log=log_samples).result).id


def _describe(value: Any) -> str:
    """An argument as the recorded call shows it: paths and scalars as repr, in-memory data by kind and size."""
    if isinstance(value, (str, os.PathLike)):
        return repr(os.fspath(value))
    if isinstance(value, Split):
        return f"<Split {value.name!r}, {len(value)} samples>"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and not _one_table(value):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    if isinstance(value, (list, tuple)):
        return f"<{len(value)} records>"
    if hasattr(value, "__len__") and not isinstance(value, (int, float, bool)):
        return f"<{type(value).__name__}, {len(value)} rows>"
    return repr(value)


def _paths(value: Any) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in _paths(v)]
    if isinstance(value, (list, tuple)) and not _one_table(value):
        return [p for v in value for p in _paths(v)]
    return []


def _invocation(name: str, call: Mapping[str, Any]) -> Any:
    """Record the Python call (``mllmshift.evaluate(id='id.jsonl', ...)``) and its file inputs for the results'
    provenance, unless an outer entry point (the command line) already did."""
    import contextlib

    from mllmshift.provenance import current_invocation, set_invocation

    if current_invocation() is not None:
        return contextlib.nullcontext()
    args = ", ".join(f"{k}={_describe(v)}" for k, v in call.items() if v is not None and k != "log_samples")
    inputs = _paths(call.get("id")) + _paths(call.get("ood")) + _paths(call.get("data")) + _paths(call.get("reader"))
    return set_invocation(f"mllmshift.{name}({args})", inputs)


def _recorded(result: StudyResult) -> StudyResult:
    """``result`` with its ``run`` block (:func:`mllmshift.provenance.run_record`)."""
    from mllmshift.provenance import run_record

    return result.with_(run={**result.run, **run_record(threads=result.threads,
                                                          device=result.environment.get("device"),
                                                          estimator_fingerprint=result.estimator.get("fingerprint"))})


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

    cfg = eval_config(paper, _caller="fit", _own=_FIT_OWN, **config)
    splits = _scenarios(data, columns, dict(reader or {}))
    cache = open_cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    return fit_to_file(splits, cfg, save, name=name, cache=cache, progress=progress_for(progress))
