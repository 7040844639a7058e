"""A content-addressed cache of judge verdicts: the same request is paid for once.

The key is ``sha256`` of the canonical JSON of everything that decides the
verdict: judge model, messages (system and user text, image data), temperature,
max tokens, seed and the parse-retry attempt number (so a retried unparsable
verdict is a new, separately cached request). The endpoint URL and the API key
are not part of it. Each verdict is one small JSON file ``<root>/<k[:2]>/<k>.json``
written atomically, so concurrent workers and crashes never corrupt the cache.

Healing. Each entry carries ``checksum = sha256(key ‖ text)``. An entry that is not JSON, lacks its
text, or whose checksum does not fit (a damaged disk, a hand edit, a copy under the wrong name) is
deleted with a :class:`~mllmshift.errors.MllmshiftWarning` and counts as a miss, so the verdict is
asked again. Entries written before checksums existed are kept and sealed when first read (asking
the judge again would cost money for nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.errors import MllmshiftWarning
from mllmshift.io.atomic import atomic_write_text


def request_key(request: Mapping[str, Any]) -> str:
    """The cache key of a request description (canonical JSON, sorted keys)."""
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def entry_checksum(key: str, text: str) -> str:
    """The checksum stored with a verdict: sha256 of its key and text."""
    return hashlib.sha256(f"{key}\x00{text}".encode()).hexdigest()


class VerdictCache:
    """Verdict texts by request key under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached verdict text of ``key``; None when absent or damaged (a damaged entry is deleted)."""
        p = self._path(key)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            return None
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._drop(p, "not JSON")
        text = obj.get("text") if isinstance(obj, dict) else None
        if not isinstance(text, str):
            return self._drop(p, "no verdict text")
        if "checksum" not in obj:  # written before checksums: sealed now
            obj["checksum"] = entry_checksum(key, text)
            atomic_write_text(p, json.dumps(obj, ensure_ascii=False))
        elif obj["checksum"] != entry_checksum(key, text):
            return self._drop(p, "checksum does not match")
        return text

    @staticmethod
    def _drop(path: Path, why: str) -> None:
        path.unlink(missing_ok=True)
        warnings.warn(f"{path}: damaged judge cache entry ({why}) dropped; the verdict is asked again",
                      MllmshiftWarning, stacklevel=3)
        return None

    def put(self, key: str, text: str, info: Mapping[str, Any] | None = None) -> None:
        entry = {"text": text, **dict(info or {}), "checksum": entry_checksum(key, text)}
        atomic_write_text(self._path(key), json.dumps(entry, ensure_ascii=False))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0
