"""The on-disk state of a study, ``OUT/.state/``: what lets a killed run resume and a rerun recompute nothing.

Every entry is written atomically under a key that hashes everything it depends on, so a changed config
never reads a stale entry:

- ``config.json``: the fingerprint of the config whose results ``OUT`` holds. A run with another config
  into the same ``OUT`` is refused (:class:`OutputInUse`) unless it is told to overwrite, so an earlier
  run's results are never replaced silently; so is a run into an ``OUT`` whose ``config.json`` is damaged;
- ``responses/<split>.<key>.jsonl``, ``embedded/<split>.<key>.npz``, ``estimator/<key>.<k>.pt``,
  ``scenarios/<name>.<key>.json``: the stages' entries, kept for the pipeline by :class:`SealedStore`
  (keys: :mod:`mllmshift.evaluation.stores`; ``<key>`` of the estimator is the fit's fingerprint);
- ``grid/<key>/``: materialised shift grids.

Every entry carries a checksum: ``<entry>.sha256`` beside it holds the SHA-256 of its bytes, written (atomically)
after the entry itself (:meth:`StudyState.seal`). An entry is read only when its checksum matches
(:meth:`StudyState.verified`); a truncated or altered entry, one whose checksum is missing (a run killed between
the two writes, or a state written before checksums) or one that cannot be parsed goes to
:meth:`StudyState.unreadable`: it is moved aside to ``.state/corrupt/`` with a
:class:`~mllmshift.errors.MllmshiftWarning` naming it, and the stage recomputes it, so the resumed study gives
the results of an uninterrupted run.
"""

from __future__ import annotations

import io
import json
import time
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.errors import MllmshiftError, MllmshiftWarning
from mllmshift.estimators.base import MIEstimator
from mllmshift.evaluation.samples import safe_name
from mllmshift.evaluation.stores import StageLog, Store
from mllmshift.io.atomic import atomic_write_bytes, atomic_write_text
from mllmshift.io.strict_json import dumps
from mllmshift.provenance import file_sha256

_ARRAYS = ("x_text", "x", "response", "reference", "x_visual")


__all__ = ["OutputInUse", "SealedStore", "StageLog", "StudyState"]


class OutputInUse(MllmshiftError):
    """``OUT`` holds the results of another config."""



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
    def claim(self, fingerprint: str, config: dict[str, Any], *, overwrite: bool, write: bool = True) -> None:
        """Record that ``OUT`` holds the results of this config; refuse another config unless ``overwrite``
        (``write=False``: only check)."""
        path = self.root / "config.json"
        if path.is_file() and self.damage(path) is not None and not overwrite:
            raise OutputInUse(f"{self.root.parent} holds a study whose config record ({path}) is damaged: "
                              f"{self.damage(path)}; its results cannot be told apart from another config's. "
                              "Choose another --out, or pass --overwrite to replace them")
        old = self.read_json(path)
        if old is not None and old.get("fingerprint") != fingerprint and not overwrite:
            raise OutputInUse(f"{self.root.parent} holds the results of another study config; choose another "
                              "--out, or pass --overwrite to replace them (cached stages that still apply are reused)")
        if write:
            self.write_json(path, {"fingerprint": fingerprint, "config": config})

    # ------------------------------------------------------------------ checksums
    @staticmethod
    def checksum_path(path: Path) -> Path:
        return path.with_name(path.name + ".sha256")

    def seal(self, path: Path) -> None:
        """Record the checksum of the entry just written at ``path`` (after it, so a kill between the two
        writes leaves an entry without a checksum, which is recomputed)."""
        atomic_write_text(self.checksum_path(path), file_sha256(path) + "\n")

    def damage(self, path: Path) -> str | None:
        """What is wrong with the existing entry at ``path`` (no checksum, or another one), None when it is intact."""
        try:
            want = self.checksum_path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return "it has no checksum (a run stopped while writing it, or an older state)"
        return None if file_sha256(path) == want else "its checksum does not match (truncated or altered)"

    def verified(self, path: Path) -> bool:
        """Whether the entry exists with a matching checksum; an entry that exists without one (or with another)
        goes to :meth:`unreadable` and counts as absent."""
        if not path.is_file():
            return False
        why = self.damage(path)
        if why is not None:
            self.unreadable(path, why)
            return False
        return True

    def unreadable(self, path: Path, why: str | Exception) -> None:
        """An entry that cannot be trusted: moved aside to ``.state/corrupt/`` (with its checksum file) with a
        warning; the caller recomputes it."""
        dest = self.root / "corrupt" / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}"
        dest.mkdir(parents=True, exist_ok=True)
        for p in (path, self.checksum_path(path)):
            if p.exists():
                p.replace(dest / p.name)
        warnings.warn(f"{path}: study state entry not used, {why}; moved aside to {dest}, recomputing it",
                      MllmshiftWarning, stacklevel=3)

    # ------------------------------------------------------------------ entries
    def write_json(self, path: Path, obj: Any) -> None:
        """Strict JSON (non-finite numbers as null with a reason), atomically, with its checksum."""
        atomic_write_text(path, dumps(obj, indent=2) + "\n")
        self.seal(path)

    def read_json(self, path: Path) -> dict[str, Any] | None:
        """A JSON entry, None when it does not exist or cannot be trusted (see :meth:`verified`)."""
        if not self.verified(path):
            return None
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return self.unreadable(path, err)
        if not isinstance(obj, dict):
            return self.unreadable(path, "not a JSON object")
        return obj

    def save_embedded(self, path: Path, e: EmbeddedSplit) -> None:
        arrays = {k: a for k in _ARRAYS if (a := vars(e)[k]) is not None}
        buf = io.BytesIO()
        np.savez(buf, ids=np.array(e.ids, dtype=object).astype(str),
                 metadata=np.array(json.dumps(dict(e.metadata), default=str)), **arrays)
        atomic_write_bytes(path, buf.getvalue())
        self.seal(path)

    def load_embedded(self, path: Path, name: str) -> EmbeddedSplit | None:
        """The embedded split saved at ``path``, None when it does not exist or cannot be trusted."""
        if not self.verified(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: (z[k] if k in z.files else None) for k in _ARRAYS}
                return EmbeddedSplit(name=name, ids=tuple(str(i) for i in z["ids"]),
                                     metadata=json.loads(str(z["metadata"])), **arrays)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # zip, npy and JSON errors
            return self.unreadable(path, err)


class SealedStore(Store):
    """The pipeline's stage storage in a study's sealed state (:class:`StudyState`): every entry checksummed,
    read back only when intact, moved aside and recomputed otherwise."""

    def __init__(self, state: StudyState) -> None:
        super().__init__()
        self.state = state

    def _embedded_path(self, name: str, key: str) -> Path:
        return self.state.path("embedded", f"{safe_name(name)}.{key}.npz")

    def load_embedded(self, name: str, key: str) -> EmbeddedSplit | None:
        return self.state.load_embedded(self._embedded_path(name, key), name)

    def save_embedded(self, name: str, key: str, e: EmbeddedSplit) -> None:
        self.state.save_embedded(self._embedded_path(name, key), e)

    def _member_paths(self, key: str, n: int) -> list[Path]:
        return [self.state.path("estimator", f"{key}.{k}.pt") for k in range(n)]

    def load_estimators(self, key: str, n: int, cls: type[MIEstimator]) -> tuple[MIEstimator, ...] | None:
        """The saved members, None when any is missing or cannot be trusted (then all are refitted)."""
        paths = self._member_paths(key, n)
        if not all([self.state.verified(p) for p in paths]):
            return None
        try:
            from mllmshift.estimators.defaults import load_mi_estimator

            return tuple(load_mi_estimator(p) for p in paths)  # a cross-fitted member's file is not cls's
        except MllmshiftError as err:
            for p in paths:
                self.state.unreadable(p, err)
            return None

    def save_estimators(self, key: str, members: tuple[MIEstimator, ...]) -> None:
        for m, p in zip(members, self._member_paths(key, len(members))):
            m.save(p)
            self.state.seal(p)

    def _result_path(self, name: str, key: str) -> Path:
        return self.state.path("scenarios", f"{safe_name(name)}.{key}.json")

    def load_result(self, name: str, key: str) -> Mapping[str, Any] | None:
        doc = self.state.read_json(self._result_path(name, key))
        return None if doc is None else doc["result"]

    def save_result(self, name: str, key: str, doc: Mapping[str, Any]) -> None:
        self.state.write_json(self._result_path(name, key), {"result": dict(doc)})
