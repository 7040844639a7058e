"""Metrics for dashboards: the Prometheus text file and the localhost endpoint, scraped and parsed with an
independent reader of the exposition format, against the series' latest row."""

from __future__ import annotations

import re
import urllib.request

import pytest
from monitor_helpers import config, monitor, reference, series, stream_records, write_jsonl

from mllmshift.errors import DataError
from mllmshift.monitor.metrics import MetricsExport

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> tuple[dict[str, str], dict[tuple[str, frozenset], float]]:
    """(metric → type, (name, labels) → value); every line must be a comment, HELP/TYPE or a sample."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line.startswith("#") or not line:
            continue
        else:
            m = SAMPLE.match(line)
            assert m, line
            labels = frozenset(LABEL.findall(m.group(3) or ""))
            value = {"+Inf": float("inf"), "-Inf": float("-inf")}.get(m.group(4)) or float(m.group(4))
            samples[(m.group(1), labels)] = value
    return types, samples


def test_the_file_and_the_endpoint_give_the_latest_window(tmp_path):
    stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 100), (3, 50)]))
    cfg = config("50", consecutive=1)
    m = monitor(cfg, reference(200), stream, tmp_path / "out", metrics_port=0)
    try:
        m.run_once()
        with urllib.request.urlopen(f"http://127.0.0.1:{m.metrics.port}/metrics", timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            served = resp.read().decode("utf-8")
    finally:
        m.close()
    text = (tmp_path / "out" / "metrics.prom").read_text()
    assert served == text
    types, samples = parse(text)
    last = series(tmp_path / "out")[-1]
    conf = ("config", m.identity["config"])

    def value(name, **labels):
        return samples[(f"mllmshift_monitor_{name}", frozenset({conf, *labels.items()}))]

    assert value("window") == last["window"] == 2 and value("window_records") == 50
    for t in m.terms:
        if last.get(t) is not None:
            assert value("term", term=t) == pytest.approx(last[t], rel=1e-12)
            assert value("term_low", term=t) == pytest.approx(last[f"{t}_low"], rel=1e-12)
    for t in m.watched:
        if last.get(f"{t}_p") is not None:
            assert value("term_p_value", term=t) == pytest.approx(last[f"{t}_p"])
            assert value("term_over", term=t) == float(last[f"{t}_over"])
    assert value("alert_firing") == float(bool(last["alerts"]))
    assert value("windows_total") == 3 and value("records_total") == 150
    assert value("alerts_total") == sum(1 for r in series(tmp_path / "out") if r["alerts"])
    assert value("expected_run_time_windows") == pytest.approx(1 / cfg.window_alpha)  # k = 1: ERT = 1/q
    assert types["mllmshift_monitor_records_total"] == "counter" and types["mllmshift_monitor_term"] == "gauge"
    assert not any(k[0] == "mllmshift_monitor_term" and v != v for k, v in samples.items())  # no NaN samples
    assert (tmp_path / "out" / "metrics.prom").stat().st_size and not list((tmp_path / "out").glob(".*tmp*"))


def test_a_port_in_use_is_a_located_error(tmp_path):
    first = MetricsExport(tmp_path / "a.prom", 0)
    try:
        with pytest.raises(DataError) as err:
            MetricsExport(tmp_path / "b.prom", first.port)
        assert err.value.field == "--metrics-port"
    finally:
        first.close()
