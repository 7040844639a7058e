"""The on-disk state of a study, ``OUT/.state/``: what lets a killed run resume and a rerun recompute nothing.

Every entry is written atomically under a key that hashes everything it depends on, so a changed config
never reads a stale entry:

- ``config.json``: the fingerprint of the config whose results ``OUT`` holds. A run with another config
  into the same ``OUT`` is refused (:class:`OutputInUse`) unless it is told to overwrite, so an earlier
  run's results are never replaced silently;
- ``responses/<split>.<key>.jsonl``, ``embedded/<split>.<key>.npz``, ``estimator/<key>.<k>.pt``,
  ``scenarios/<name>.<key>.json``: the stages' entries (see :mod:`mllmshift.study.stages`);
- ``grid/<key>/``: materialised shift grids.

An entry that exists but cannot be read goes to :meth:`StudyState.unreadable` (one place to decide what
a corrupt entry means; today: a :class:`~mllmshift.errors.DataError` naming the file).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.io.atomic import atomic_write_bytes, atomic_write_text

_ARRAYS = ("x_text", "x", "response", "reference", "x_visual")


class OutputInUse(MllmshiftError):
    """``OUT`` holds the results of another config."""


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON (no NaN), atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


@dataclass
class StageLog:
    """How many items each stage computed and how many it read from the state (for the run record)."""

    computed: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def hit(self, stage: str, cached: bool) -> None:
        d = self.cached if cached else self.computed
        d[stage] = d.get(stage, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        stages = sorted(set(self.computed) | set(self.cached) | set(self.seconds))
        return {s: {"computed": self.computed.get(s, 0), "cached": self.cached.get(s, 0),
                    "seconds": round(self.seconds.get(s, 0.0), 3)} for s in stages}


class StudyState:
    """The on-disk state of a study: ``OUT/.state/`` (see the module docstring)."""

    def __init__(self, out: Path) -> None:
        self.root = out / ".state"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    # ------------------------------------------------------------------ the config OUT belongs to
    def claim(self, fingerprint: str, config: dict[str, Any], *, overwrite: bool) -> None:
        """Record that ``OUT`` holds the results of this config; refuse another config unless ``overwrite``."""
        path = self.root / "config.json"
        old = self.read_json(path)
        if old is not None and old.get("fingerprint") != fingerprint and not overwrite:
            raise OutputInUse(f"{self.root.parent} holds the results of another study config; choose another "
                              "--out, or pass --overwrite to replace them (cached stages that still apply are reused)")
        write_json(path, {"fingerprint": fingerprint, "config": config})

    # ------------------------------------------------------------------ entries
    def read_json(self, path: Path) -> dict[str, Any] | None:
        """A JSON entry, None when it does not exist."""
        if not path.is_file():
            return None
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return self.unreadable(path, err)
        if not isinstance(obj, dict):
            return self.unreadable(path, ValueError("not a JSON object"))
        return obj

    def unreadable(self, path: Path, err: Exception) -> dict[str, Any] | None:
        """What an entry that cannot be read means (the hook for a recovery policy): a located error."""
        raise DataError(f"unreadable study state entry ({err}); delete it to recompute it", path=path)

    def save_embedded(self, path: Path, e: EmbeddedSplit) -> None:
        arrays = {k: a for k in _ARRAYS if (a := vars(e)[k]) is not None}
        buf = io.BytesIO()
        np.savez(buf, ids=np.array(e.ids, dtype=object).astype(str),
                 metadata=np.array(json.dumps(dict(e.metadata), default=str)), **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @staticmethod
    def load_embedded(path: Path, name: str) -> EmbeddedSplit:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: (z[k] if k in z.files else None) for k in _ARRAYS}
            return EmbeddedSplit(name=name, ids=tuple(str(i) for i in z["ids"]), metadata=json.loads(str(z["metadata"])),
                                 **arrays)
