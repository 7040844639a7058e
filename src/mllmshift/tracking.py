"""Experiment tracking: a result logged to MLflow or Weights & Biases, offline by default.

lm-eval-harness and lmms-eval log runs to W&B; teams that track their models there want EMI beside the rest.
:func:`log_result` logs one :class:`~mllmshift.evaluation.results.StudyResult` (from ``emi``, ``emid``, ``study``
or ``mllmshift.evaluate``) as one tracked run:

- **config**: the evaluation config flattened to ``key.sub = value`` parameters (``estimator.name``,
  ``n_resamples``, ...), and the run record's command, version and git commit as tags;
- **headline numbers**: ``id_emi`` and the summary's scalars (``mean_emid``, ``mean_bound``, correlations),
  and per scenario ``emi/<name>``, ``emid/<name>``, ``bound/<name>`` (names made tracker-safe);
- **per-scenario table**: ``scenarios.csv`` (the rows of :meth:`StudyResult.rows`; a ``wandb.Table`` too);
- **files**: ``results.json`` and whatever the run wrote that it is given (the study's ``plots/*.png``,
  ``report.html``).

Backends (the ``tracking`` extra: ``pip install 'mllmshift[tracking]'``):

- ``mlflow``: ``$MLFLOW_TRACKING_URI`` when set, else a local file store in ``folder`` (default ``mlruns``), which
  needs no server or network; MLflow 3 keeps that store in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``,
  which is set for this process when the local store is used;
- ``wandb``: offline mode unless ``$WANDB_MODE`` says otherwise, files under ``folder`` (``wandb sync`` uploads
  them later).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import MissingDependencyError, UsageError
from mllmshift.evaluation.results import StudyResult

log = logging.getLogger(__name__)

#: the backends ``--log-to`` accepts
BACKENDS = ("mlflow", "wandb")
#: the default folder of the local store / offline files
DEFAULT_FOLDER = {"mlflow": "mlruns", "wandb": "wandb"}


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"estimator": {"name": "smile"}}`` → ``{"estimator.name": "smile"}``; lists and None as JSON text."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, name + "."))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return out


def safe_key(name: str) -> str:
    """A metric name every tracker accepts: letters, digits and ``_-./ `` kept, anything else ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)


def metrics_of(result: StudyResult) -> dict[str, float]:
    """The headline numbers: ``id_emi``, the summary's finite scalars, and per scenario EMI, EMID and bound."""
    out: dict[str, float] = {}
    if result.id.value is not None:
        out["id_emi"] = float(result.id.value)
    for key, value in result.summary.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            out[key] = float(value)
    for s in result.scenarios:
        for kind, value in (("emi", s.emi), ("emid", s.emid), ("bound", s.bound.value)):
            if value is not None and value == value:
                out[f"{kind}/{safe_key(s.name)}"] = float(value)
    return out


def tags_of(result: StudyResult) -> dict[str, str]:
    run = result.run
    git = run.get("git") or {}
    tags = {"mllmshift.version": str(run.get("mllmshift") or ""), "mllmshift.command": str(run.get("command") or ""),
            "mllmshift.git_commit": str(git.get("commit") or ""), "mllmshift.title": result.title,
            "mllmshift.id_split": result.id.name}
    return {k: v[:5000] for k, v in tags.items() if v}


def log_result(result: StudyResult, backend: str, *, folder: str | os.PathLike[str] | None = None,
               files: Sequence[str | os.PathLike[str]] = (), run_name: str | None = None,
               experiment: str = "mllmshift") -> str:
    """Log ``result`` (see the module docstring) to ``backend``; returns where it went (run id and store)."""
    if backend not in BACKENDS:
        raise UsageError(f"field '--log-to': unknown tracker {backend!r}; choose from {', '.join(BACKENDS)}")
    where = Path(folder if folder is not None else DEFAULT_FOLDER[backend])
    name = run_name or result.title or result.id.name
    logger = _log_mlflow if backend == "mlflow" else _log_wandb
    return logger(result, where, [Path(f) for f in files if Path(f).is_file()], name, experiment)


def _tables(result: StudyResult) -> tuple[dict[str, Any], str]:
    from mllmshift.evaluation.results import CSV_FIELDS
    from mllmshift.evaluation.summary import csv_text

    return result.to_json(), csv_text(result.rows(), CSV_FIELDS)


def _log_mlflow(result: StudyResult, folder: Path, files: list[Path], name: str, experiment: str) -> str:
    try:
        import mlflow
    except ImportError as err:
        raise MissingDependencyError("--log-to mlflow", "mlflow", "tracking") from err
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        folder.mkdir(parents=True, exist_ok=True)
        uri = folder.resolve().as_uri()
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # a local store: offline, no database needed
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    results_json, table = _tables(result)
    with mlflow.start_run(run_name=name) as run:
        params = flat_params(result.config.to_dict())
        for start in range(0, len(params), 100):  # MLflow takes at most 100 parameters per call
            mlflow.log_params(dict(list(params.items())[start:start + 100]))
        mlflow.set_tags(tags_of(result))
        mlflow.log_metrics(metrics_of(result))
        mlflow.log_dict(results_json, "results.json")
        mlflow.log_text(table, "scenarios.csv")
        for f in files:
            mlflow.log_artifact(str(f), artifact_path="plots" if f.suffix == ".png" else None)
        run_id = run.info.run_id
    log.info("logged to MLflow: run %s in %s", run_id, uri)
    return f"mlflow run {run_id} ({uri})"


def _log_wandb(result: StudyResult, folder: Path, files: list[Path], name: str, experiment: str) -> str:
    try:
        import wandb
    except ImportError as err:
        raise MissingDependencyError("--log-to wandb", "wandb", "tracking") from err
    folder.mkdir(parents=True, exist_ok=True)
    mode = os.environ.get("WANDB_MODE", "offline")
    results_json, _ = _tables(result)
    run = wandb.init(project=experiment, name=name, dir=str(folder), mode=mode,
                     config=flat_params(result.config.to_dict()), tags=[result.id.name], reinit=True)
    try:
        run.summary.update(metrics_of(result))
        run.summary.update({f"tag/{k}": v for k, v in tags_of(result).items()})
        rows = result.rows()
        if rows:
            columns = list(rows[0])
            run.log({"scenarios": wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in rows])})
        for f in files:
            if f.suffix == ".png":
                run.log({f"plots/{f.stem}": wandb.Image(str(f))})
        results_path = folder / f"{safe_key(name)}-results.json"
        results_path.write_text(json.dumps(results_json, indent=1, default=str), encoding="utf-8")
        run.save(str(results_path), base_path=str(folder), policy="now")
        where = f"wandb run {run.id} ({mode}, {run.dir})"
    finally:
        run.finish()
    log.info("logged to W&B: %s", where)
    return where
