"""The series files (append, cut back to a saved length) and the saved state (round trip, atomic pair)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from mllmshift.errors import MllmshiftError
from mllmshift.monitor.embed import RecordRows
from mllmshift.monitor.series import SeriesWriter, columns, numbers, read_series
from mllmshift.monitor.state import MonitorState, StateStore
from mllmshift.monitor.stream import StreamRecord


def test_columns_list_intervals_and_alert_fields_for_watched_terms():
    cols = columns(["text", "emi"], ["text"])
    assert cols[:8] == ["window", "start", "end", "n", "n_labelled", "skipped", "skipped_total", "late"]
    assert cols[8:] == ["text", "text_low", "text_high", "text_threshold", "text_p", "text_z", "text_over",
                        "emi", "emi_low", "emi_high", "moved_most", "alerts", "notes"]


def test_series_rows_go_to_jsonl_and_csv_and_cut_back_on_resume(tmp_path):
    w = SeriesWriter(tmp_path, columns(["text"], ["text"]))
    w.write({"window": 0, "n": 10, "text": 0.25, "text_threshold": float("inf"), "text_over": False})
    saved = w.lengths()
    w.write({"window": 1, "n": 10, "text": 0.5, "alerts": "text"})
    assert [r["window"] for r in read_series(tmp_path / "series.jsonl")] == [0, 1]
    w.truncate(saved)  # a crash after the second row, before the state was saved
    rows = read_series(tmp_path / "series.jsonl")
    assert len(rows) == 1 and rows[0]["text"] == 0.25 and rows[0]["text_threshold"] is None  # strict JSON
    assert rows[0]["null_reasons"]["text_threshold"].startswith("+infinity")
    w.write({"window": 1, "n": 10, "text": 0.5})
    table = list(csv.DictReader((tmp_path / "series.csv").open()))
    assert [r["window"] for r in table] == ["0", "1"] and table[0]["text"] == "0.25" and table[0]["late"] == ""
    assert (tmp_path / "series.csv").read_text().count("window,start") == 1  # one header
    assert numbers(rows + [{"text": None}], "text") == [0.25, pytest.approx(float("nan"), nan_ok=True)]
    with pytest.raises(ValueError, match="outside the series"):
        w.write({"window": 2, "colour": 1})


def _rows(n, dim=4, visual=True):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        rec = StreamRecord(f"id{i}", 100.0 + i, f"q{i}", f"a{i}", None if i % 2 else f"ref{i}", None, f"cap{i}",
                           "s.jsonl", i + 1)
        v = rng.normal(size=(4, dim)).astype(np.float32)
        out.append(RecordRows(rec, v[0], v[1], v[2], not i % 2, v[3] if visual else None))
    return out


@pytest.mark.parametrize("visual", [True, False])
def test_state_round_trips_records_arrays_and_counters(tmp_path, visual):
    store = StateStore(tmp_path / ".state")
    buf = _rows(5, visual=visual)
    st = MonitorState({"config": "abc"}, {"s.jsonl": [120, 5]}, {"kind": "count", "accepted": 5, "next_index": 1},
                      [{"term": "text", "size": 5, "values": [0.1, 0.2]}], {"text": 1}, {"skipped_total": 2},
                      {"series.jsonl": 10}, buf)
    store.save(st, 1)
    store.save(st, 2)
    assert sorted(p.name for p in (tmp_path / ".state").iterdir()) == ["buffer-2.npz", "state.json"]
    got = store.load()
    assert (got.identity, got.positions, got.windows, got.nulls, got.streaks, got.counters, got.logs) == (
        st.identity, st.positions, st.windows, st.nulls, st.streaks, st.counters, st.logs)
    for a, b in zip(got.buffer, buf):
        assert a.record == b.record and a.labelled == b.labelled
        for f in ("x_text", "response", "reference", "x_visual"):
            x, y = getattr(a, f), getattr(b, f)
            assert (x is None and y is None) or np.array_equal(x, y)


def test_state_with_an_empty_buffer_and_a_foreign_version(tmp_path):
    store = StateStore(tmp_path)
    store.save(MonitorState({"config": "x"}), 1)
    assert store.load().buffer == []
    doc = json.loads((tmp_path / "state.json").read_text())
    (tmp_path / "state.json").write_text(json.dumps({**doc, "version": 99}))
    with pytest.raises(MllmshiftError, match="state version 99"):
        store.load()
    (tmp_path / "state.json").write_text("{half")
    with pytest.raises(MllmshiftError, match="unreadable monitor state"):
        store.load()
