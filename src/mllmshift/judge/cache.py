"""A content-addressed cache of judge verdicts: the same request is paid for once.

The key is ``sha256`` of the canonical JSON of everything that decides the
verdict: judge model, messages (system and user text, image data), temperature,
max tokens, seed and the parse-retry attempt number (so a retried unparsable
verdict is a new, separately cached request). The endpoint URL and the API key
are not part of it. Each verdict is one small JSON file ``<root>/<k[:2]>/<k>.json``
written atomically, so concurrent workers and crashes never corrupt the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.io.atomic import atomic_write_text


def request_key(request: Mapping[str, Any]) -> str:
    """The cache key of a request description (canonical JSON, sorted keys)."""
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class VerdictCache:
    """Verdict texts by request key under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        p = self._path(key)
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):  # a damaged entry is a miss, rewritten on success
            return None
        text = obj.get("text") if isinstance(obj, dict) else None
        return text if isinstance(text, str) else None

    def put(self, key: str, text: str, info: Mapping[str, Any] | None = None) -> None:
        atomic_write_text(self._path(key), json.dumps({"text": text, **dict(info or {})}, ensure_ascii=False))

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0
