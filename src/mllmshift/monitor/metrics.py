"""The latest window as metrics where dashboards read them: a Prometheus text file and an optional HTTP endpoint.

``OUT/metrics.prom`` is rewritten atomically (a temporary file renamed over it) after every poll that closed
windows, in the Prometheus text exposition format (version 0.0.4), which the node exporter's textfile
collector reads: point its ``--collector.textfile.directory`` at a folder and link or copy the file there
(the collector reads ``*.prom``). With ``--metrics-port P`` the same text is served at
``http://127.0.0.1:P/metrics`` (localhost only: put a reverse proxy in front to expose it).

Series (every sample carries the run's ``config`` fingerprint as a label; term series also ``term``):

========================================================  ======================================================
``mllmshift_monitor_term{term}``                          the latest window's estimate of each computed term
``mllmshift_monitor_term_low{term}``, ``…_high{term}``    its bootstrap interval
``mllmshift_monitor_term_threshold{term}``                a watched term's critical value at the per-term level
``mllmshift_monitor_term_p_value{term}``                  a watched term's permutation p-value
``mllmshift_monitor_term_z{term}``                        (estimate − null mean) / null sd
``mllmshift_monitor_term_over{term}``                     1 when the term crossed in the latest window
``mllmshift_monitor_alert_firing``                        1 when the rule fired in the latest window
``mllmshift_monitor_window``                              the latest window's index
``mllmshift_monitor_window_end_timestamp_seconds``        its end (epoch seconds)
``mllmshift_monitor_window_records``                      its records (``…_labelled_records``: with a reference)
``mllmshift_monitor_window_level``                        the per-window false-alarm level q
``mllmshift_monitor_expected_run_time_windows``           ERT(q, k): expected windows between false alarms
``mllmshift_monitor_records_total`` (counter)             records read
``mllmshift_monitor_skipped_records_total`` (counter)     malformed records skipped
``mllmshift_monitor_late_records_total`` (counter)        records that came after their window closed
``mllmshift_monitor_windows_total`` (counter)             windows closed
``mllmshift_monitor_alerts_total`` (counter)              alerts fired
========================================================  ======================================================

A term that was not computed in the latest window is left out (not written as NaN).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.atomic import atomic_write_text

PREFIX = "mllmshift_monitor"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TERM_SERIES = (("term", "", "the latest window's estimate of each computed term"),
                ("term_low", "_low", "lower end of the term's bootstrap interval"),
                ("term_high", "_high", "upper end of the term's bootstrap interval"),
                ("term_threshold", "_threshold", "a watched term's critical value at the per-term level"),
                ("term_p_value", "_p", "a watched term's permutation p-value against its no-shift null"),
                ("term_z", "_z", "(estimate - null mean) / null standard deviation"),
                ("term_over", "_over", "1 when the term crossed (p at most its level) in the latest window"))


def _labels(labels: Mapping[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{esc(str(v))}"' for k, v in labels.items()) + "}" if labels else ""


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if v == "inf":
        return math.inf
    return None


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def render_metrics(row: Mapping[str, Any] | None, terms: Sequence[str], watched: Sequence[str],
                   counters: Mapping[str, int], level: Mapping[str, float], config: str) -> str:
    """The text exposition of the latest window ``row`` (None before the first) and the run's counters."""
    base = {"config": config}
    out: list[str] = []

    def family(name: str, kind: str, help_: str, samples: Sequence[tuple[Mapping[str, str], float]]) -> None:
        if not samples:
            return
        full = f"{PREFIX}_{name}"
        out.append(f"# HELP {full} {help_}")
        out.append(f"# TYPE {full} {kind}")
        out.extend(f"{full}{_labels(lab)} {_fmt(v)}" for lab, v in samples)

    if row is not None:
        for name, suffix, help_ in _TERM_SERIES:
            samples = []
            for t in terms:
                if suffix not in ("", "_low", "_high") and t not in watched:
                    continue
                v = _number(row.get(f"{t}{suffix}"))
                if v is not None and not math.isnan(v):
                    samples.append(({**base, "term": t}, v))
            family(name, "gauge", help_, samples)
        family("alert_firing", "gauge", "1 when the alert rule fired in the latest window",
               [(base, 1.0 if row.get("alerts") else 0.0)])
        family("window", "gauge", "the latest closed window's index", [(base, float(row["window"]))])
        end = row.get("end")
        if isinstance(end, str):
            ts = datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp()
            family("window_end_timestamp_seconds", "gauge", "the latest window's end (epoch seconds)", [(base, ts)])
        family("window_records", "gauge", "records in the latest window", [(base, float(row["n"]))])
        family("window_labelled_records", "gauge", "records with a reference answer in the latest window",
               [(base, float(row.get("n_labelled") or 0))])
    family("window_level", "gauge", "the per-window false-alarm level q", [(base, float(level["window"]))])
    family("expected_run_time_windows", "gauge", "expected windows between false alarms under no shift",
           [(base, float(level["ert"]))])
    for name, key, help_ in (("records_total", "records", "records read"),
                             ("skipped_records_total", "skipped_total", "malformed records skipped"),
                             ("late_records_total", "late_total", "records that came after their window closed"),
                             ("windows_total", "windows", "windows closed"),
                             ("alerts_total", "alerts", "alerts fired")):
        family(name, "counter", help_, [(base, float(counters.get(key, 0)))])
    return "\n".join(out) + "\n"


class MetricsExport:
    """Keeps the latest exposition text, writes it to ``path`` atomically and, with a ``port``, serves it at
    ``http://127.0.0.1:port/metrics`` from a daemon thread (port 0: any free port, see :attr:`port`)."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path, self.text = path, ""
        self._server: ThreadingHTTPServer | None = None
        if port is not None:
            export = self

            class Handler(BaseHTTPRequestHandler):
                def do_GET(self) -> None:  # noqa: N802
                    if self.path.split("?")[0] not in ("/metrics", "/"):
                        self.send_error(404)
                        return
                    body = export.text.encode("utf-8")
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

                def log_message(self, *args: Any) -> None:  # no access log on stderr
                    return

            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            except OSError as err:
                raise DataError(f"cannot serve metrics on 127.0.0.1:{port}: {err.strerror or err}",
                                field="--metrics-port") from None
            threading.Thread(target=self._server.serve_forever, name="mllmshift-metrics", daemon=True).start()

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_address[1])

    def update(self, text: str) -> None:
        self.text = text
        atomic_write_text(self.path, text)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
