"""``--log-to mlflow|wandb`` for the verbs that produce results (emi, emid, study): :mod:`mllmshift.tracking`."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import MissingDependencyError

#: the package each backend imports
PACKAGES = {"mlflow": "mlflow", "wandb": "wandb"}


def add_tracking_args(p: argparse.ArgumentParser) -> None:
    from mllmshift.tracking import BACKENDS

    g = p.add_argument_group("experiment tracking (pip install 'mllmshift[tracking]')")
    g.add_argument("--log-to", choices=BACKENDS, default=None,
                   help="also log config, headline numbers, the per-scenario table and plots to MLflow (a local "
                        "file store, or $MLFLOW_TRACKING_URI) or W&B (offline unless $WANDB_MODE says otherwise)")
    g.add_argument("--log-to-dir", type=Path, default=None, metavar="DIR",
                   help="where the local MLflow store / offline W&B files go (default: mlruns/ or wandb/)")
    g.add_argument("--run-name", default=None, help="the tracked run's name (default: the study title or ID split)")


def check_tracking(args: argparse.Namespace) -> None:
    """Before any work: the chosen tracker's package is installed (else the extra to install is named)."""
    backend = getattr(args, "log_to", None)
    if backend and importlib.util.find_spec(PACKAGES[backend]) is None:
        raise MissingDependencyError(f"--log-to {backend}", PACKAGES[backend], "tracking")


def track(args: argparse.Namespace, result: Any, files: Sequence[str | Path] = ()) -> None:
    """Log ``result`` where ``--log-to`` says (nothing without it) and say where on stderr."""
    backend = getattr(args, "log_to", None)
    if not backend:
        return
    from mllmshift.tracking import log_result

    where = log_result(result, backend, folder=args.log_to_dir, files=files, run_name=args.run_name)
    print(f"mllmshift {args.command}: logged to {where}", file=sys.stderr)
