"""The monitor: stream → windows → terms → series, alerts and view, resumable at every closed window.

:meth:`Monitor.run_once` reads what is new in the stream and returns (one-shot mode; call it again
after the stream grew); :meth:`Monitor.follow` polls until interrupted. Per record batch: parse
(a malformed record is reported with file and line, logged to ``skipped.jsonl`` and counted), embed,
assign to windows; per closed window: compute the terms, compare the watched ones with their
thresholds, write the row, fire alerts. The state is saved after every record that closed windows
and at the end of each poll, so a restart continues from the last saved point and produces the same
rows (every random choice is seeded by the config's seed and the window's index).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from mllmshift.devices import using_device
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.evaluation.checks import check_checkpoint
from mllmshift.evaluation.embedding import Encoders, embed_split
from mllmshift.evaluation.estimation import Ensemble, build_divergence
from mllmshift.evaluation.pipeline import compute_settings
from mllmshift.io.atomic import atomic_write_text
from mllmshift.monitor.alerts import AlertRule, AlertSink, StdoutSink, WebhookSink
from mllmshift.monitor.attribution import bound_parts, moved_most, top_samples
from mllmshift.monitor.config import MonitorConfig
from mllmshift.monitor.lines import level_line, progress_line
from mllmshift.monitor.embed import RecordEmbedder, RecordRows, Rows, check_reference
from mllmshift.monitor.metrics import MetricsExport, render_metrics
from mllmshift.monitor.null import NullCache
from mllmshift.monitor.series import JsonlLog, SeriesWriter, columns
from mllmshift.monitor.state import MonitorState, StateStore, WindowStore, reference_estimators
from mllmshift.monitor.stream import Event, format_time, open_source
from mllmshift.monitor.terms import (
    JSD_FIELDS,
    Reference,
    TermCalculator,
    WindowStats,
    check_window_fits_reference,
    split_reference,
)
from mllmshift.monitor.view import VIEW_WINDOWS, render
from mllmshift.monitor.windows import ClosedWindow, make_windows
from mllmshift.progress import progress_for
from mllmshift.provenance import derive_seed, environment, run_record, stable_hash
from mllmshift.records import Split
from mllmshift.threads import thread_limits

OUTPUTS = ("series.jsonl", "series.csv", "alerts.jsonl", "skipped.jsonl", "index.html", "config.json", "metrics.prom")


@dataclass
class RunSummary:
    """What one :meth:`Monitor.run_once` did."""

    records: int = 0
    windows: int = 0
    skipped: int = 0
    late: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)


class Monitor:
    """Watches ``stream`` against ``reference`` and writes to ``out`` (see the module docstring).

    Args:
        restart: discard a saved state and earlier outputs in ``out`` instead of resuming.
        metrics_port: also serve the latest window's metrics at http://127.0.0.1:PORT/metrics (0: any free
            port; :attr:`metrics`.port says which); ``OUT/metrics.prom`` is written either way.
        webhook: also POST alerts there. log: progress lines and warnings (None: silent).
        alert_stream: where alert lines go (default stdout). refresh_s: redraw the view at most this often
            while a backlog is read (it is always redrawn when a poll ends).
    """

    def __init__(self, cfg: MonitorConfig, reference: Split, stream: str | Path, out: str | Path, *,
                 cache: EmbeddingCache | None = None, webhook: WebhookSink | None = None,
                 log: TextIO | None = sys.stderr, alert_stream: TextIO | None = None, restart: bool = False,
                 batch_size: int = 256, refresh_s: float = 10.0, page_refresh_s: int | None = None,
                 metrics_port: int | None = None) -> None:
        check_reference(reference)
        check_checkpoint(cfg.eval)
        check_window_fits_reference(cfg, len(reference))  # before any embedding or fit, and before out/ exists
        self.cfg, self.out, self.log = cfg, Path(out), log
        self.batch_size, self.refresh_s, self.page_refresh_s = batch_size, refresh_s, page_refresh_s
        self.sinks: list[AlertSink] = [StdoutSink(alert_stream)] + ([webhook] if webhook else [])
        self.out.mkdir(parents=True, exist_ok=True)
        self.store = StateStore(self.out / ".state")
        if restart:
            shutil.rmtree(self.out / ".state", ignore_errors=True)
            for name in OUTPUTS:
                (self.out / name).unlink(missing_ok=True)
            shutil.rmtree(self.out / "plots", ignore_errors=True)

        self.identity = {"config": cfg.fingerprint(), "stream": str(Path(stream).resolve()),
                         "reference": stable_hash([s.to_dict() for s in reference.samples])}
        self.progress = progress_for(log is not None, log)
        with compute_settings(cfg.eval, self.progress) as (self.threads, self.device):
            self._prepare(reference, cache)
        self.watched = [t for t in cfg.alert_terms if t in self.terms]
        self.nulls = NullCache(self.calc, cfg.null_draws, cfg.seed,
                               announce=lambda m: self._say(f"mllmshift monitor: {m}"))
        self.windows = make_windows(cfg.window)
        if cfg.window.kind == "count" and self.calc.jsd_terms:
            why = self.calc.jsd_feasible(int(cfg.window.size))
            if why is not None:
                raise DataError(f"{int(cfg.window.size)}: {why}; use a smaller window or a larger reference",
                                field="window")
        self.source = open_source(stream, cfg.stream_columns)
        self.series = SeriesWriter(self.out, columns(self.terms, self.watched))
        self.alerts_log = JsonlLog(self.out / "alerts.jsonl")
        self.skipped_log = JsonlLog(self.out / "skipped.jsonl")
        self.rule = AlertRule(self.watched, cfg.consecutive)
        self.counters = {"skipped_pending": 0, "skipped_total": 0, "late_pending": 0, "late_total": 0,
                         "records": 0, "saves": 0}
        self._resume()
        ref = self.calc.ref
        self.info = {"reference": f"{reference.name} ({len(ref)} records, {len(ref.labelled)} with reference answers)",
                     "stream": str(stream), "windows": cfg.window.label(), "terms watched": ", ".join(self.watched),
                     "false-alarm level": level_line(cfg),
                     "estimators": f"JSD {cfg.eval.divergence.name}; MI {self._mi_line(len(ref.fit))}",
                     "seed": cfg.seed, "config": self.identity["config"]}
        atomic_write_text(self.out / "config.json", _json({
            "config": cfg.to_dict(), "identity": self.identity, "terms": self.terms, "watched": self.watched,
            "reference": {"name": reference.name, "n": len(ref), "labelled": len(ref.labelled),
                          "fit_half": len(ref.fit), "calibration_half": len(ref.calibration),
                          "visual_source": self.visual_source, "fusion": ref.rows.fusion},
            "encoders": self.encoders.info(), "mi_estimator": None if self.ensemble is None else self.ensemble.info,
            "divergence": self.divergence.config(), "threads": self.threads.to_dict(), "device": self.device,
            "environment": environment(), "run": run_record(threads=self.threads.to_dict(), device=self.device)}))
        self._last_view = 0.0
        self._dirty = False
        tail = self.series.jsonl.tail(1)
        self._last_row: dict[str, Any] | None = dict(tail[-1]) if tail else None
        self.metrics = MetricsExport(self.out / "metrics.prom", metrics_port)
        self._export()

    def _prepare(self, reference: Split, cache: EmbeddingCache | None) -> None:
        """Embed the reference and fit (or load) the MI estimator(s) with the evaluation core's steps."""
        cfg = self.cfg
        self.encoders = Encoders(cfg.eval)
        self._say(f"mllmshift monitor: embedding the reference '{reference.name}' ({len(reference)} records)")
        split = embed_split(reference, self.encoders, cache, self.progress)
        self.visual_source = split.metadata.get("visual_source")
        rows = Rows.from_split(split)
        self.ref_rows = rows
        labelled, fit, calibration = split_reference(rows, derive_seed(cfg.seed, "reference-halves"))
        self.ensemble: Ensemble | None = None
        if {"emi", "emid"} & set(cfg.terms) and len(fit) >= cfg.min_references:
            self.ensemble = self._ensemble(split.subset(fit, name=f"{reference.name}-fit-half"))
        self.divergence = build_divergence(cfg.eval)
        members = () if self.ensemble is None else self.ensemble.members
        self.calc = TermCalculator(Reference(rows, labelled, fit, calibration, members), cfg, self.divergence,
                                   workers=self.threads.threads)
        self.terms = self.calc.terms
        image = self.encoders.image if reference.has_images else None
        self.embedder = RecordEmbedder(self.encoders.text, image, self.visual_source, rows.fusion, cache)

    # ------------------------------------------------------------------ state
    def _ensemble(self, fit_split: EmbeddedSplit) -> Ensemble:
        """The MI estimator(s) of the reference's fit half: the pipeline's estimator step through the monitor's
        :class:`~mllmshift.monitor.state.WindowStore` (see :func:`~mllmshift.monitor.state.reference_estimators`)."""
        key = stable_hash([self.identity["reference"], list(fit_split.ids)])
        return reference_estimators(fit_split, self.cfg.eval, WindowStore(self.store.folder), key,
                                    self.encoders.info(), self.progress,
                                    say=lambda m: self._say(f"mllmshift monitor: {m}"))

    def _mi_line(self, n_fit: int) -> str:
        if self.ensemble is None:
            return "none (no EMI terms)"
        ev = self.cfg.eval
        if ev.checkpoint is not None:
            return f"{ev.estimator.name} loaded from {ev.checkpoint}"
        k = f"{ev.n_estimators} × " if ev.n_estimators > 1 else ""
        return f"{k}{ev.estimator.name} fitted on {n_fit} reference records"

    def _resume(self) -> None:
        if not self.store.exists():
            if (self.out / "series.jsonl").exists():
                raise MllmshiftError(f"{self.out} holds a series but no saved state; use --restart to start over "
                                     f"or another --out")
            return
        st = self.store.load()
        if st.identity != self.identity:
            changed = sorted(k for k in self.identity if st.identity.get(k) != self.identity[k])
            raise MllmshiftError(f"{self.out} was written by a run with another {', '.join(changed)}; use "
                                 f"--restart to start over or another --out")
        self.source.restore(st.positions)
        self.windows.restore(st.windows, st.buffer)
        self.nulls.restore(st.nulls)
        self.rule.restore(st.streaks)
        self.counters.update(st.counters)
        self.series.truncate(st.logs)
        self.alerts_log.truncate(int(st.logs.get("alerts.jsonl", 0)))
        self.skipped_log.truncate(int(st.logs.get("skipped.jsonl", 0)))

    def _save(self) -> None:
        self.counters["saves"] += 1
        logs = {**self.series.lengths(), "alerts.jsonl": self.alerts_log.length,
                "skipped.jsonl": self.skipped_log.length}
        self.store.save(MonitorState(self.identity, self.source.state(), self.windows.state(), self.nulls.state(),
                                     self.rule.state(), dict(self.counters), logs, self.windows.buffer),
                        self.counters["saves"])

    # ------------------------------------------------------------------ reading
    def run_once(self) -> RunSummary:
        """Read everything new in the stream, close the windows it completes, save, redraw; then return."""
        with thread_limits(self.threads), using_device(self.device):  # the choice compute_settings made
            return self._run_once()

    def _run_once(self) -> RunSummary:
        summary = RunSummary()
        events = self.source.events()
        while True:
            chunk = list(islice(events, self.batch_size))
            if not chunk:
                break
            self._process(chunk, summary)
            if self._dirty and time.monotonic() - self._last_view >= self.refresh_s:
                self.refresh()
        for note in self.source.warnings:
            self._say(f"mllmshift monitor: {note}")
        self.source.warnings.clear()
        if summary.records or summary.skipped:
            self._save()
            self._export()
        if self._dirty:
            self.refresh()
        return summary

    def _export(self) -> None:
        """Rewrite ``metrics.prom`` (and the endpoint's text) from the latest window and the counters."""
        from mllmshift.monitor.calibration import expected_run_length

        q = self.cfg.window_alpha
        level = {"window": q, "ert": expected_run_length(q, self.cfg.consecutive)}
        self.metrics.update(render_metrics(self._last_row, self.terms, self.watched, self.counters, level,
                                           self.identity["config"]))

    def close(self) -> None:
        """Stop the metrics endpoint (if any)."""
        self.metrics.close()

    def follow(self, poll_s: float = 5.0, max_idle_s: float | None = None) -> RunSummary:
        """Poll every ``poll_s`` seconds until interrupted (or idle for ``max_idle_s``)."""
        total, idle_since = RunSummary(), time.monotonic()
        while True:
            s = self.run_once()
            total.records += s.records
            total.windows += s.windows
            total.skipped += s.skipped
            total.late += s.late
            total.alerts += s.alerts
            if s.records or s.skipped:
                idle_since = time.monotonic()
            elif max_idle_s is not None and time.monotonic() - idle_since >= max_idle_s:
                return total
            time.sleep(poll_s)

    def _process(self, chunk: Sequence[Event], summary: RunSummary) -> None:
        records = [e.record for e in chunk if e.record is not None]
        embedded = iter(self.embedder.embed(records))
        for event in chunk:
            result: RecordRows | DataError | None = event.error if event.record is None else next(embedded)
            self.source.commit(event)
            if isinstance(result, DataError):
                self._skip(result, summary)
                continue
            assert result is not None
            closed = self.windows.add(result)
            summary.records += 1
            self.counters["records"] += 1
            if closed is None:
                summary.late += 1
                self.counters["late_pending"] += 1
                self.counters["late_total"] += 1
                continue
            for window in closed:
                self._close(window, summary)
            if closed:
                self._save()

    def _skip(self, err: DataError, summary: RunSummary) -> None:
        summary.skipped += 1
        self.counters["skipped_pending"] += 1
        self.counters["skipped_total"] += 1
        self.skipped_log.write({"path": err.path, "line": err.line, "field": err.field, "error": str(err)})
        self._say(f"mllmshift monitor: skipped a malformed record: {err}")

    # ------------------------------------------------------------------ windows
    def _close(self, window: ClosedWindow, summary: RunSummary) -> None:
        if window.items:
            rows = Rows.stack(window.items, self.ref_rows.fusion)
            stats = self.calc.window(rows, derive_seed(self.cfg.seed, "window", window.index))
        else:
            rows, stats = None, WindowStats(notes=["no records"])
        n_lab = int(rows.labelled.sum()) if rows is not None else 0
        row: dict[str, Any] = {
            "window": window.index, "start": None if window.start is None else format_time(window.start),
            "end": None if window.end is None else format_time(window.end), "n": len(window.items),
            "n_labelled": n_lab, "skipped": self.counters["skipped_pending"],
            "skipped_total": self.counters["skipped_total"], "late": self.counters["late_pending"]}
        over: dict[str, bool] = {}
        z: dict[str, float | None] = {}
        for t in self.terms:
            v = stats.values.get(t)
            row.update({t: v and v.value, f"{t}_low": v and v.low, f"{t}_high": v and v.high})
            if t not in self.watched:
                continue
            null = None if v is None else self.nulls.get(t, len(window.items) if t in JSD_FIELDS else n_lab)
            given = self.cfg.thresholds.get(t)
            thr = given if given is not None else (null.threshold(self.cfg.term_alpha) if null else None)
            p = null.p_value(v.value) if (null and v) else None
            z[t] = null.z(v.value) if (null and v) else None
            if given is not None:
                over[t] = bool(v is not None and v.value > given)
            else:
                over[t] = bool(p is not None and p <= self.cfg.term_alpha)
            row.update({f"{t}_threshold": thr, f"{t}_p": p, f"{t}_z": z[t], f"{t}_over": over[t]})
        fired = self.rule.update(over)
        self.counters["windows"] = self.counters.get("windows", 0) + 1
        self.counters["alerts"] = self.counters.get("alerts", 0) + (1 if fired else 0)
        row.update({"moved_most": moved_most(z), "alerts": ";".join(fired) or None,
                    "notes": "; ".join(stats.notes) or None})
        self.series.write(row)
        self._last_row = row
        self.counters["skipped_pending"] = self.counters["late_pending"] = 0
        summary.windows += 1
        self._dirty = True
        self._say(progress_line(row, self.watched))
        if fired:
            assert rows is not None
            top = row["moved_most"] if row["moved_most"] in self.watched else fired[0]
            alert = {"window": window.index, "start": row["start"], "end": row["end"], "n": row["n"],
                     "terms": {t: {"value": row[t], "low": row[f"{t}_low"], "high": row[f"{t}_high"],
                                   "threshold": row[f"{t}_threshold"], "p": row[f"{t}_p"], "z": row[f"{t}_z"]}
                               for t in fired},
                     "consecutive": self.cfg.consecutive, "moved_most": top,
                     "z": {t: v for t, v in z.items() if v is not None},
                     "top_samples": top_samples(top, self.ref_rows, rows, self.cfg.top_k),
                     "top_samples_by_term": {t: top_samples(t, self.ref_rows, rows, self.cfg.top_k) for t in fired},
                     "bound": bound_parts(row, self.calc.out_ref),
                     "config": self.identity["config"]}
            self.alerts_log.write(alert)
            summary.alerts.append(alert)
            for sink in self.sinks:
                sink.send(alert)

    # ------------------------------------------------------------------ output
    def refresh(self) -> Path:
        """Redraw the plots and ``index.html`` from the series."""
        page = render(self.out, self.series.jsonl.tail(VIEW_WINDOWS), self.alerts_log.tail(200), self.terms,
                      self.watched, self.info, self.page_refresh_s)
        self._last_view, self._dirty = time.monotonic(), False
        return page

    def _say(self, line: str) -> None:
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n"
