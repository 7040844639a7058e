"""A monitor's saved state: everything a restart needs to continue exactly where the last window closed.

``OUT/.state/state.json`` holds the run's identity (config, reference and stream fingerprints), the
stream positions, the window counters, the null distributions computed so far, the alert streaks,
the skipped/late counters and the lengths of the output logs; the buffered records of the open windows
are listed there and their embedding rows kept in ``buffer-<generation>.npz``. Both are written
atomically (:mod:`mllmshift.io.atomic`), the arrays first and the JSON, which names them, last: a crash
leaves the previous state whole. Memory and disk stay bounded by what one window holds. The fitted MI
estimator(s) are kept beside them by :class:`WindowStore`, the pipeline's store for a monitor.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.errors import MllmshiftError
from mllmshift.evaluation.config import EvalConfig
from mllmshift.estimators.base import MIEstimator
from mllmshift.evaluation.estimation import Ensemble, estimator_step
from mllmshift.evaluation.stores import Store, save_members
from mllmshift.io.atomic import atomic_write_bytes, atomic_write_text
from mllmshift.monitor.embed import RecordRows
from mllmshift.monitor.stream import StreamRecord
from mllmshift.progress import Progress

STATE_VERSION = 1


@dataclass
class MonitorState:
    """What a restart restores (see the module docstring)."""

    identity: dict[str, Any]
    positions: dict[str, list[int]] = field(default_factory=dict)
    windows: dict[str, Any] = field(default_factory=dict)
    nulls: list[dict[str, Any]] = field(default_factory=list)
    streaks: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    logs: dict[str, int] = field(default_factory=dict)
    buffer: list[RecordRows] = field(default_factory=list)


class StateStore:
    """Reads and writes :class:`MonitorState` under ``folder`` (``OUT/.state``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "state.json"

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, state: MonitorState, generation: int) -> None:
        name = f"buffer-{generation}.npz"
        atomic_write_bytes(self.folder / name, _arrays(state.buffer))
        doc = {"version": STATE_VERSION, "identity": state.identity, "positions": state.positions,
               "windows": state.windows, "nulls": state.nulls, "streaks": state.streaks,
               "counters": state.counters, "logs": state.logs, "buffer_file": name,
               "buffer": [r.record.to_dict() for r in state.buffer]}
        atomic_write_text(self.path, json.dumps(doc, ensure_ascii=False))
        for old in self.folder.glob("buffer-*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def load(self) -> MonitorState:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise MllmshiftError(f"{self.path}: unreadable monitor state ({err}); remove it (or use --restart) "
                                 f"to start over") from None
        if doc.get("version") != STATE_VERSION:
            raise MllmshiftError(f"{self.path}: state version {doc.get('version')}, this mllmshift reads "
                                 f"{STATE_VERSION}; use --restart to start over")
        records = [StreamRecord.from_dict(d) for d in doc["buffer"]]
        buffer = _rows(self.folder / doc["buffer_file"], records) if records else []
        return MonitorState(doc["identity"], doc["positions"], doc["windows"], doc["nulls"], doc["streaks"],
                            doc["counters"], doc["logs"], buffer)


def _arrays(buffer: Sequence[RecordRows]) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    if buffer:
        arrays = {"x_text": np.stack([r.x_text for r in buffer]), "response": np.stack([r.response for r in buffer]),
                  "reference": np.stack([r.reference for r in buffer]),
                  "labelled": np.array([r.labelled for r in buffer], dtype=bool)}
        if buffer[0].x_visual is not None:
            arrays["x_visual"] = np.stack([r.x_visual for r in buffer])  # type: ignore[misc]
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _rows(path: Path, records: Sequence[StreamRecord]) -> list[RecordRows]:
    try:
        with np.load(path) as z:
            a = {k: z[k] for k in z.files}
    except OSError as err:
        raise MllmshiftError(f"{path}: the buffered embeddings of the saved state are unreadable ({err}); "
                             f"use --restart to start over") from None
    if len(a.get("x_text", ())) != len(records):
        raise MllmshiftError(f"{path}: holds {len(a.get('x_text', ()))} rows for {len(records)} buffered records")
    vis = a.get("x_visual")
    return [RecordRows(r, a["x_text"][i], a["response"][i], a["reference"][i], bool(a["labelled"][i]),
                       None if vis is None else vis[i]) for i, r in enumerate(records)]


class WindowStore(Store):
    """The pipeline's stage storage for a monitor: the reference's fitted MI estimator(s), saved atomically in
    the state ``folder`` (``mi-estimator-<fingerprint[:16]>-<k>``) and loaded on resume instead of refitted.
    Windows are embedded and scored by the monitor itself (:mod:`mllmshift.monitor.terms`) with these members;
    nothing else is kept here."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def _paths(self, key: str, n: int) -> list[Path]:
        return [self.folder / f"mi-estimator-{key[:16]}-{k}" for k in range(n)]

    def load_estimators(self, key: str, n: int, cls: type[MIEstimator]) -> tuple[MIEstimator, ...] | None:
        from mllmshift.estimators.defaults import load_mi_estimator

        paths = self._paths(key, n)
        return tuple(load_mi_estimator(p) for p in paths) if all(p.is_file() for p in paths) else None

    def save_estimators(self, key: str, members: tuple[MIEstimator, ...]) -> None:
        save_members(members, self._paths(key, len(members)))


def reference_estimators(fit_split: EmbeddedSplit, ev: EvalConfig, store: Store, reference_key: str,
                         encoders: Mapping[str, Any], progress: Progress | None,
                         say: Callable[[str], None] | None = None) -> Ensemble:
    """The MI estimator(s) of the reference's fit half: the pipeline's estimator step
    (:func:`~mllmshift.evaluation.estimation.estimator_step`, same config, same code as ``mllmshift emi``)
    through ``store`` (a :class:`WindowStore`); ``reference_key`` is the fit half's content key."""
    return estimator_step([fit_split], ev, store, progress, keys={fit_split.name: reference_key},
                          encoders=encoders, fit_set_name=f"{fit_split.name} (the reference's fit half)",
                          declared=True, say=say)
