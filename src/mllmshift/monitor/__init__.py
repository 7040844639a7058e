"""Monitoring a deployed model: drift of a stream of queries and answers against its reference window.

The paper's bound says what a team can watch without a judge and without reference answers: the JSDs
between the queries a model was tuned on and the queries it gets now bound how much its effective
mutual information can fall; where some reference answers exist, EMI itself can be tracked.

- :mod:`~mllmshift.monitor.config`: :class:`MonitorConfig` (windows, alerts, and the :class:`EvalConfig` of
  ``mllmshift emi`` for encoders, estimators, seed, bootstrap and threads);
  :mod:`~mllmshift.monitor.config_file`: the same from a YAML file, errors located;
- :mod:`~mllmshift.monitor.stream`: sources that read only what is new (growing JSONL, drop folder, Parquet);
- :mod:`~mllmshift.monitor.embed`: records → embedding rows, as the reference was embedded;
- :mod:`~mllmshift.monitor.windows`: tumbling/sliding windows by count or time;
- :mod:`~mllmshift.monitor.terms`: per-window terms with bootstrap CIs (:mod:`~mllmshift.monitor.influence`:
  RJSD's per-record derivative; :mod:`~mllmshift.monitor.control_variate`: the control-variate bootstrap it
  feeds); :mod:`~mllmshift.monitor.null`: their
  no-shift distributions at the same size;
- :mod:`~mllmshift.monitor.calibration`: permutation p-values, Šidák's split and the expected run time;
- :mod:`~mllmshift.monitor.alerts`: the k-consecutive rule (one decision per window) and its sinks;
  :mod:`~mllmshift.monitor.attribution`: which term moved, its share of the bound, and which records;
- :mod:`~mllmshift.monitor.series`, :mod:`~mllmshift.monitor.state`: the series and the resumable state (with
  the reference's fitted MI estimators, from the evaluation core's ``get_estimators``);
- :mod:`~mllmshift.monitor.view`: SVG plots and the one-page HTML view; :mod:`~mllmshift.monitor.metrics`: the
  Prometheus text file and the localhost endpoint;
- :mod:`~mllmshift.monitor.runner`: :class:`Monitor`, which ties them together;
- :mod:`~mllmshift.monitor.replay`: replay demos (generated offline, and LLaVA-Bench).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mllmshift.monitor.config import ALERT_TERMS, TERMS, MonitorConfig, WindowSpec

if TYPE_CHECKING:
    from mllmshift.monitor.runner import Monitor, RunSummary

__all__ = ["ALERT_TERMS", "TERMS", "Monitor", "MonitorConfig", "RunSummary", "WindowSpec"]


def __getattr__(name: str) -> Any:
    """:class:`Monitor` and :class:`RunSummary` on first use: the runner imports torch (3 s), which
    ``mllmshift --help`` and the config readers (``cli/monitor.py`` at parser build) do not need."""
    if name in ("Monitor", "RunSummary"):
        from mllmshift.monitor import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
