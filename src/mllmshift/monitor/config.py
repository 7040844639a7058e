"""What a monitor run computes, as one frozen config (written next to its output, hashed into its state).

Windows are given as ``--window 1000`` (a count of records) or ``--window 1h`` (a duration: ``s``, ``m``,
``h`` or ``d``), with ``--step`` of the same kind (default: the window, i.e. tumbling windows; a smaller
step gives sliding windows).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mllmshift.errors import DataError
from mllmshift.provenance import stable_hash

#: every per-window quantity the monitor can compute (see :mod:`mllmshift.monitor.terms`)
TERMS: tuple[str, ...] = ("visual", "text", "answer", "output", "output_shift", "emi", "emid", "bound")
#: the terms an alert rule watches by default: each grows when the stream drifts away from the reference
ALERT_TERMS: tuple[str, ...] = ("visual", "text", "answer", "output_shift", "emid")

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


@dataclass(frozen=True)
class WindowSpec:
    """``kind`` = ``count`` (size and step in records) or ``time`` (in seconds)."""

    kind: Literal["count", "time"]
    size: float
    step: float

    @classmethod
    def parse(cls, window: str, step: str | None = None) -> WindowSpec:
        """``("1000", None)`` → 1000-record tumbling windows; ``("1h", "10m")`` → hourly windows every 10 min."""
        kind, size = _span(window, "--window")
        if step is None:
            stride = size
        else:
            step_kind, stride = _span(step, "--step")
            if step_kind != kind:
                raise DataError(f"--step {step!r} must be of the same kind as --window {window!r} "
                                f"(both a count or both a duration)")
        if stride > size:
            raise DataError(f"--step ({step}) must not exceed --window ({window}): records between windows "
                            f"would be read and never used")
        return cls(kind, size, stride)

    @property
    def tumbling(self) -> bool:
        return self.step == self.size

    def label(self) -> str:
        if self.kind == "count":
            return f"{int(self.size)} records, step {int(self.step)}"
        return f"{_duration(self.size)}, step {_duration(self.step)}"


def _span(text: str, flag: str) -> tuple[Literal["count", "time"], float]:
    m = _SPAN.match(str(text))
    if not m:
        raise DataError(f"{flag} must be a record count (1000) or a duration (90s, 15m, 1h, 2d), got {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    if value <= 0 or not math.isfinite(value):
        raise DataError(f"{flag} must be positive, got {text!r}")
    if not unit:
        if value != int(value):
            raise DataError(f"{flag}: a record count must be a whole number, got {text!r}")
        return "count", float(int(value))
    return "time", value * _UNITS[unit]


def _duration(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class MonitorConfig:
    """Everything that decides the series (the hash of :meth:`identity` guards a resumed run).

    Attributes:
        window: the windows (see :class:`WindowSpec`).
        terms: the quantities computed per window (a subset of :data:`TERMS`).
        alert_terms: the terms alert rules watch (a subset of ``terms`` and :data:`ALERT_TERMS`).
        alpha: family-wise false-alarm level per window: each of the T watched terms gets the threshold
            that a no-shift window's estimate exceeds with probability at most ``alpha / T``.
        consecutive: k, the windows in a row whose lower confidence bound must be over the threshold.
        thresholds: given thresholds per term (replace the null's).
        n_null: same-size draws from the reference that make each null distribution.
        n_bootstrap, confidence: the bootstrap CI of every term (resampling the window's records); the
            interval needs only the bootstrap standard error, which 50 resamples estimate to about ±10 %.
        min_records: fewest records for the drift terms; min_references: fewest records with a
            reference answer for ``output``, ``output_shift``, ``emi`` and ``emid``.
        text_encoder, image_encoder, fusion: embeddings (as for ``emi``/``emid``);
            text_encoder_options, image_encoder_options: constructor options of the encoders (e.g.
            ``{"dim": 64}``).
        mi_estimator, estimator_options: the MI estimator of EMI (None: the project default).
        divergence: the JSD estimator (None: the project default).
        seed: every random choice (null draws, reference subsets, bootstrap) derives from it.
        top_k: samples named per alert.
        stream_columns: stream field → the name it has in the stream's records (e.g.
            ``{"timestamp": "ts", "response": "text"}``); unnamed fields keep their own names.
    """

    window: WindowSpec
    terms: tuple[str, ...] = TERMS
    alert_terms: tuple[str, ...] = ALERT_TERMS
    alpha: float = 0.05
    consecutive: int = 2
    thresholds: dict[str, float] = field(default_factory=dict)
    n_null: int = 200
    n_bootstrap: int = 50
    confidence: float = 0.95
    min_records: int = 10
    min_references: int = 20
    text_encoder: str = "use-multilingual"
    text_encoder_options: dict[str, Any] = field(default_factory=dict)
    image_encoder: str = "efficientnet-lite0"
    image_encoder_options: dict[str, Any] = field(default_factory=dict)
    fusion: str = "auto"
    mi_estimator: str | None = None
    estimator_options: dict[str, Any] = field(default_factory=dict)
    divergence: str | None = None
    seed: int = 0
    top_k: int = 5
    stream_columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.terms) - set(TERMS))
        if unknown:
            raise DataError(f"unknown terms {unknown}; terms are {', '.join(TERMS)}")
        bad = sorted(set(self.alert_terms) - set(ALERT_TERMS))
        if bad:
            raise DataError(f"terms {bad} cannot raise alerts; alert terms are {', '.join(ALERT_TERMS)}")
        missing = sorted(set(self.alert_terms) - set(self.terms))
        if missing:
            raise DataError(f"alert terms {missing} are not among the computed terms {list(self.terms)}")
        loose = sorted(set(self.thresholds) - set(self.alert_terms))
        if loose:
            raise DataError(f"thresholds given for {loose}, which no alert rule watches")
        if not 0.0 < self.alpha < 1.0:
            raise DataError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 < self.confidence < 1.0:
            raise DataError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.consecutive < 1:
            raise DataError("the number of consecutive windows must be at least 1")
        if self.n_null < 1 or self.n_bootstrap < 2 or self.min_records < 2 or self.min_references < 2:
            raise DataError("n_null ≥ 1, n_bootstrap ≥ 2, min_records ≥ 2 and min_references ≥ 2 are needed")

    @property
    def term_alpha(self) -> float:
        """The false-alarm level of each watched term: alpha / T (Bonferroni)."""
        return self.alpha / max(1, len(self.alert_terms))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = asdict(self.window)
        out["terms"], out["alert_terms"] = list(self.terms), list(self.alert_terms)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorConfig:
        d = dict(d)
        d["window"] = WindowSpec(**d["window"])
        d["terms"], d["alert_terms"] = tuple(d["terms"]), tuple(d["alert_terms"])
        return cls(**d)

    def fingerprint(self) -> str:
        """A stable hash of the config: a resumed run must have the same."""
        return stable_hash(self.to_dict())
