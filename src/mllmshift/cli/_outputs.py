"""What the verbs write: output paths checked before any work, results that belong to one run, and printing.

A pipeline verb checks every path it will write (:func:`check_output_paths`) before it reads or computes
anything, refuses to replace another run's result or per-sample rows unless ``--overwrite``
(:func:`check_output`, :func:`check_sample_logs`; a run is identified by its config and inputs), and ends
with :func:`emit`: the human summary or JSON on stdout and ``--out`` written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError, MllmshiftError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.io.strict_json import dumps


def check_path(path: Path | None, flag: str, *, folder: bool) -> None:
    """Raise a :class:`DataError` naming ``flag`` when ``path`` cannot be written: a file expected and a folder
    there (or the reverse), or a file where one of its parent folders should be."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        want = "a folder" if folder else "a file name (e.g. result.json)"
        raise DataError(f"{path} is a {'file' if folder else 'folder'}; give {want}", field=flag)
    for p in path.parents:
        if p.exists() and not p.is_dir():
            raise DataError(f"{path} lies under {p}, which is a file, not a folder", field=flag)


def check_output_paths(args: argparse.Namespace) -> None:
    """Every path a pipeline verb writes, checked before anything is read or computed."""
    check_path(args.out, "--out", folder=False)
    if args.log_samples is not None:
        check_path(args.log_samples, "--log-samples", folder=True)
    elif args.out is not None:
        check_path(Path(args.out).parent / "samples", "--out (its samples/ folder)", folder=True)
    check_path(args.save_estimator, "--save-estimator", folder=False)
    check_path(args.cache_dir, "--cache-dir", folder=True)


def check_output(path: Path | None, identity: Mapping[str, Any], overwrite: bool) -> None:
    """Refuse to replace ``path`` when it holds the result of another run (another config or other inputs)
    unless ``overwrite``; a rerun of the same config on the same inputs may replace its own result."""
    if path is None or overwrite or not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        same = isinstance(old, dict) and all(old.get(k) == v for k, v in identity.items())
    except (UnicodeDecodeError, json.JSONDecodeError):
        same = False
    if not same:
        raise MllmshiftError(f"{path} holds the result of another run (another config or other data); choose "
                             "another --out, or pass --overwrite to replace it")


def check_sample_logs(folder: Path, identity: Mapping[str, Any], overwrite: bool) -> None:
    """Refuse to write per-sample rows into ``folder`` when it holds those of another run (its ``.run.json``
    differs, or it has rows and no ``.run.json``) unless ``overwrite``."""
    if overwrite or not folder.is_dir():
        return
    stamp = folder / ".run.json"
    if stamp.exists():
        check_output(stamp, identity, overwrite)
    elif any(folder.glob("*.jsonl")):
        raise MllmshiftError(f"{folder} already holds per-sample rows of another run; choose another --log-samples "
                             "folder, or pass --overwrite to replace them")


def stamp_sample_logs(folder: Path, identity: Mapping[str, Any]) -> None:
    """Record which run the rows in ``folder`` belong to."""
    atomic_write_text(folder / ".run.json", json.dumps(dict(identity), indent=1) + "\n")


def sample_folder(args: argparse.Namespace) -> Path | None:
    """``--log-samples DIR``, else ``samples/`` beside ``--out``, else None."""
    if args.log_samples is not None:
        return Path(args.log_samples)
    return None if args.out is None else Path(args.out).parent / "samples"


def emit(result: Mapping[str, Any], args: argparse.Namespace, human: str) -> None:
    """Print the human summary (or JSON) and write ``--out``."""
    text = dumps(result, indent=2, sort_keys=False)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    if args.json:
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(human + "\n")
        if args.out:
            sys.stdout.write(f"wrote {args.out}\n")
