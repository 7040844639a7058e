"""What a monitor run computes, as one frozen config (written next to its output, hashed into its state).

Windows are given as ``--window 1000`` (a count of records) or ``--window 1h`` (a duration: ``s``, ``m``,
``h`` or ``d``), with ``--step`` of the same kind (default: the window, i.e. tumbling windows; a smaller
step gives sliding windows).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from mllmshift.evaluation.config import ConfigError, EvalConfig
from mllmshift.monitor.calibration import min_null_draws, term_level, window_level
from mllmshift.provenance import stable_hash
from mllmshift.settings import resolve

#: every per-window quantity the monitor can compute (see :mod:`mllmshift.monitor.terms`)
TERMS: tuple[str, ...] = ("visual", "text", "answer", "output", "output_shift", "emi", "emid", "bound")
#: the reference length, in windows, at which the stated false-alarm rate was measured to hold (docs/monitor.md)
MIN_REFERENCE_WINDOWS = 10

#: the terms an alert rule watches by default: each grows when the stream drifts away from the reference
ALERT_TERMS: tuple[str, ...] = ("visual", "text", "answer", "output_shift", "emid")

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def min_null_draws(term_alpha: float) -> int:
    """The fewest null draws N whose conformal (1 − α) threshold, the ⌈(N+1)(1−α)⌉-th smallest draw, exists:
    ⌈(N+1)(1−α)⌉ ≤ N ⟺ N ≥ (1−α)/α, i.e. N ≥ ⌈1/α⌉ − 1 (19 at α = 0.05, 99 at 0.01, 999 at 0.001). With fewer the
    threshold is +inf and no window can alert."""
    import math

    return max(1, math.ceil((1.0 - term_alpha) / term_alpha - 1e-9))


@dataclass(frozen=True)
class WindowSpec:
    """``kind`` = ``count`` (size and step in records) or ``time`` (in seconds)."""

    kind: Literal["count", "time"]
    size: float
    step: float

    @classmethod
    def parse(cls, window: str, step: str | None = None) -> WindowSpec:
        """``("1000", None)`` → 1000-record tumbling windows; ``("1h", "10m")`` → hourly windows every 10 min.
        A bad value raises a :class:`ConfigError` with field ``window`` or ``step``."""
        kind, size = _span(window, "window")
        if step is None:
            stride = size
        else:
            step_kind, stride = _span(step, "step")
            if step_kind != kind:
                raise ConfigError(f"{step!r} must be of the same kind as the window {window!r} (both a count or "
                                  f"both a duration)", field="step")
        if stride > size:
            raise ConfigError(f"{step!r} must not exceed the window {window!r}: records between windows would be "
                              f"read and never used", field="step")
        return cls(kind, size, stride)

    @property
    def tumbling(self) -> bool:
        return self.step == self.size

    def label(self) -> str:
        if self.kind == "count":
            return f"{int(self.size)} records, step {int(self.step)}"
        return f"{_duration(self.size)}, step {_duration(self.step)}"


def _span(text: str | int, name: str) -> tuple[Literal["count", "time"], float]:
    m = _SPAN.match(str(text))
    if not m:
        raise ConfigError(f"must be a record count (1000) or a duration (90s, 15m, 1h, 2d), got {text!r}", field=name)
    value, unit = float(m.group(1)), m.group(2)
    if value <= 0 or not math.isfinite(value):
        raise ConfigError(f"must be positive, got {text!r}", field=name)
    if not unit:
        if value != int(value):
            raise ConfigError(f"a record count must be a whole number, got {text!r}", field=name)
        return "count", float(int(value))
    return "time", value * _UNITS[unit]


def _duration(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


#: the JSD estimator of the monitor's terms when none is named: the plug-in linear RJSD. The project's default
#: (``rjsd-debiased``) subtracts the RJSD's mean over 20 shuffled re-splits to remove its finite-sample null bias;
#: the monitor removes that bias already by comparing each term with its own permutation null at the same window
#: size, and runs the estimator once per null draw, so the correction would cost 21x for nothing
MONITOR_DIVERGENCE = "rjsd"


#: the monitor's evaluation defaults over the project's, whether its settings come from flags, a config file or
#: both (:func:`mllmshift.settings.resolve`): 50 bootstrap resamples (its intervals need only the standard
#: error, which 50 estimate to about ±10 %) and :data:`MONITOR_DIVERGENCE`
MONITOR_EVAL_DEFAULTS: dict[str, Any] = {"n_resamples": 50, "divergence": MONITOR_DIVERGENCE}


def default_eval() -> EvalConfig:
    """The project's evaluation defaults with the monitor's (:data:`MONITOR_EVAL_DEFAULTS`)."""
    return resolve(None, None, MONITOR_EVAL_DEFAULTS)


@dataclass(frozen=True)
class MonitorConfig:
    """Everything that decides the series (the hash of :meth:`fingerprint` guards a resumed run).

    Attributes:
        window: the windows (see :class:`WindowSpec`).
        eval: encoders, fusion, MI estimator (name, options, checkpoint, ensemble size), divergence, seed,
            bootstrap resamples and confidence, threads and plugins: the :class:`EvalConfig` of
            ``mllmshift emi``/``emid``/``study``, whose defaults are the project's but for
            :data:`MONITOR_EVAL_DEFAULTS`. Only the scale-adjusted bound is computed.
        terms: the quantities computed per window (a subset of :data:`TERMS`).
        alert_terms: the terms alert rules watch (a subset of ``terms`` and :data:`ALERT_TERMS`).
        alpha: the false-alarm level per window (used when ``ert`` is None): a no-shift window is *over* with
            probability at most ``alpha``, split over the T watched terms by Šidák (:attr:`term_alpha`).
        ert: the expected run time between false alarms, in windows, over all watched terms and the
            k-consecutive rule together; when given, the per-window level is the q with ERT(q, k) = ``ert``
            (:func:`mllmshift.monitor.calibration.window_level`) and ``alpha`` is not used.
        consecutive: k, the windows in a row that must be over (some watched term's permutation p-value at most
            :attr:`term_alpha`) before an alert.
        thresholds: given thresholds per term (replace the null's).
        n_null: same-size draws from the reference that make each null distribution (at least; see
            :attr:`null_draws`).
        min_records: fewest records for the drift terms; min_references: fewest records with a
            reference answer for ``output``, ``output_shift``, ``emi`` and ``emid``.
        top_k: samples named per alert.
        stream_columns: stream field → the name it has in the stream's records (e.g.
            ``{"timestamp": "ts", "response": "text"}``); unnamed fields keep their own names.

    A value that cannot be used raises a :class:`~mllmshift.evaluation.config.ConfigError` whose ``field``
    is the attribute, so the command line and the YAML reader can name the flag or the field (and line).
    """

    window: WindowSpec
    eval: EvalConfig = field(default_factory=default_eval)
    terms: tuple[str, ...] = TERMS
    alert_terms: tuple[str, ...] = ALERT_TERMS
    alpha: float = 0.05
    ert: float | None = None
    consecutive: int = 2
    thresholds: dict[str, float] = field(default_factory=dict)
    n_null: int = 200
    min_records: int = 10
    min_references: int = 20
    top_k: int = 5
    stream_columns: dict[str, str] = field(default_factory=dict)
    ci: Literal["linearised", "resampled"] = "linearised"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.terms) - set(TERMS))
        if unknown:
            raise ConfigError(f"unknown terms {unknown}; terms are {', '.join(TERMS)}", field="terms")
        bad = sorted(set(self.alert_terms) - set(ALERT_TERMS))
        if bad:
            raise ConfigError(f"terms {bad} cannot raise alerts; alert terms are {', '.join(ALERT_TERMS)}",
                              field="alert_terms")
        missing = sorted(set(self.alert_terms) - set(self.terms))
        if missing:
            raise ConfigError(f"alert terms {missing} are not among the computed terms {list(self.terms)}",
                              field="alert_terms")
        loose = sorted(set(self.thresholds) - set(self.alert_terms))
        if loose:
            raise ConfigError(f"thresholds given for {loose}, which no alert rule watches", field="thresholds")
        for name, low, high in (("alpha", 0.0, 1.0),):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
                raise ConfigError(f"must be in ({low:g}, {high:g}), got {value!r}", field=name)
        for name, low in (("consecutive", 1), ("n_null", 1), ("min_records", 2), ("min_references", 2),
                          ("top_k", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"expected an integer >= {low}, got {value!r}", field=name)
        if self.ert is not None and (isinstance(self.ert, bool) or not isinstance(self.ert, (int, float))
                                     or not 1.0 < self.ert < math.inf):
            raise ConfigError(f"an expected run time must be a number of windows > 1, got {self.ert!r}", field="ert")
        if self.ci not in ("linearised", "resampled"):
            raise ConfigError(f"must be 'linearised' or 'resampled', got {self.ci!r}", field="ci")
        if self.eval.n_resamples < 2:
            raise ConfigError(f"the monitor's intervals need at least 2 bootstrap resamples, got "
                              f"{self.eval.n_resamples}", field="n_resamples")
        if self.eval.bound_form != "scale-adjusted":
            raise ConfigError("the monitor computes the scale-adjusted bound only (Ĥ = 1, no factor 4)",
                              field="bound_form")

    def unreachable(self) -> str | None:
        """Why some watched terms can never alert (their null threshold is +inf: fewer null draws than
        :func:`min_null_draws` at the per-term level), or None. Said at the monitor's start."""
        from_null = [t for t in self.alert_terms if t not in self.thresholds]
        need = min_null_draws(self.term_alpha)
        if not from_null or self.n_null >= need:
            return None
        return (f"{self.n_null} null draws cannot give a threshold at the false-alarm level {self.term_alpha:.3g} "
                f"per term (alpha {self.alpha:g} over {len(self.alert_terms)} watched terms): the "
                f"(1 − {self.term_alpha:.3g}) quantile of {self.n_null} draws is +inf, so {', '.join(from_null)} can "
                f"NEVER alert; give at least {need} null draws (⌈1/α⌉ − 1), a larger alpha, or thresholds")

    def short_reference(self, n_reference: int) -> str | None:
        """Why the stated false-alarm rate may not hold with a reference of ``n_reference`` records, or None.

        The nulls split the reference, so its own sampling error is in every window's contrast but not in the null;
        measured on no-shift AlpacaEval streams (docs/monitor.md, "False alarms ... run length") the stated ERT holds
        when the reference is at least :data:`MIN_REFERENCE_WINDOWS` windows long and alarms come up to 1.7x as often
        at 2 windows. Said at the monitor's start for count windows (time windows vary in size)."""
        if self.window.kind != "count" or n_reference >= MIN_REFERENCE_WINDOWS * self.window.size:
            return None
        return (f"the reference has {n_reference} records, {n_reference / self.window.size:.1f} windows of "
                f"{int(self.window.size)}: false alarms can come more often than the stated level (measured up to "
                f"1.7x at 2 windows); give a reference of at least {MIN_REFERENCE_WINDOWS} windows "
                f"({int(MIN_REFERENCE_WINDOWS * self.window.size)} records) or smaller windows")

    @property
    def seed(self) -> int:
        return self.eval.seed

    @property
    def n_bootstrap(self) -> int:
        return self.eval.n_resamples

    @property
    def confidence(self) -> float:
        return self.eval.confidence

    @property
    def null_draws(self) -> int:
        """The draws of each null: ``n_null``, raised to the fewest with which a p-value can reach the per-term
        level (1/(N + 1) ≤ :attr:`term_alpha`; e.g. 153 for ERT 1000, k = 2, five terms; 4,997 for k = 1)."""
        return max(self.n_null, min_null_draws(self.term_alpha))

    @property
    def window_alpha(self) -> float:
        """The false-alarm level per window: from ``ert`` and k when ``ert`` is given, else ``alpha``."""
        return self.alpha if self.ert is None else window_level(float(self.ert), self.consecutive)

    @property
    def term_alpha(self) -> float:
        """The level of each watched term's p-value: Šidák's 1 − (1 − q)^{1/T} of the window's level q."""
        return term_level(self.window_alpha, len(self.alert_terms))

    def with_(self, **changes: Any) -> MonitorConfig:
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("window", "eval")}
        out["window"], out["eval"] = asdict(self.window), self.eval.to_dict()
        out["terms"], out["alert_terms"] = list(self.terms), list(self.alert_terms)
        out["thresholds"], out["stream_columns"] = dict(self.thresholds), dict(self.stream_columns)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorConfig:
        d = dict(d)
        d["window"] = WindowSpec(**d["window"])
        d["eval"] = EvalConfig.from_dict(d["eval"])
        d["terms"], d["alert_terms"] = tuple(d["terms"]), tuple(d["alert_terms"])
        return cls(**d)

    def fingerprint(self) -> str:
        """A stable hash of what decides the numbers (the thread count does not): a resumed run must have
        the same."""
        out = self.to_dict()
        out["eval"] = self.eval.fingerprint()
        return stable_hash(out)
