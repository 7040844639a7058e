"""Window specs and the monitor config: parsing, validation, the per-term level."""

from __future__ import annotations

import pytest

from mllmshift.errors import DataError
from mllmshift.monitor.config import MonitorConfig, WindowSpec


@pytest.mark.parametrize("window,step,expected", [
    ("1000", None, ("count", 1000.0, 1000.0)),
    ("1000", "250", ("count", 1000.0, 250.0)),
    ("1h", None, ("time", 3600.0, 3600.0)),
    ("1h", "15m", ("time", 3600.0, 900.0)),
    ("90s", "30s", ("time", 90.0, 30.0)),
    ("2d", "12h", ("time", 172800.0, 43200.0)),
    ("1.5m", None, ("time", 90.0, 90.0)),
])
def test_window_spec_parses_counts_and_durations(window, step, expected):
    spec = WindowSpec.parse(window, step)
    assert (spec.kind, spec.size, spec.step) == expected
    assert spec.tumbling == (expected[1] == expected[2])


@pytest.mark.parametrize("window,step,message", [
    ("1h", "100", "same kind"),
    ("100", "1h", "same kind"),
    ("100", "200", "must not exceed"),
    ("10.5", None, "whole number"),
    ("0", None, "positive"),
    ("1w", None, "record count"),
    ("", None, "record count"),
])
def test_window_spec_rejects_bad_specs(window, step, message):
    with pytest.raises(DataError, match=message):
        WindowSpec.parse(window, step)


def test_window_labels():
    assert WindowSpec.parse("1h", "15m").label() == "1h, step 15m"
    assert WindowSpec.parse("500", "100").label() == "500 records, step 100"


def test_config_validation_names_the_problem():
    w = WindowSpec.parse("100")
    with pytest.raises(DataError, match="unknown terms"):
        MonitorConfig(w, terms=("text", "colour"))
    with pytest.raises(DataError, match="cannot raise alerts"):
        MonitorConfig(w, alert_terms=("emi",))
    with pytest.raises(DataError, match="not among the computed terms"):
        MonitorConfig(w, terms=("text",), alert_terms=("text", "answer"))
    with pytest.raises(DataError, match="which no alert rule watches"):
        MonitorConfig(w, terms=("text",), alert_terms=("text",), thresholds={"answer": 0.1})
    with pytest.raises(DataError, match="alpha"):
        MonitorConfig(w, alpha=0.0)
    with pytest.raises(DataError, match="consecutive"):
        MonitorConfig(w, consecutive=0)


def test_term_level_is_alpha_shared_by_the_watched_terms():
    cfg = MonitorConfig(WindowSpec.parse("100"), alpha=0.05, alert_terms=("visual", "text", "answer", "emid"))
    assert cfg.term_alpha == pytest.approx(0.0125)


def test_config_round_trips_and_fingerprint_tracks_every_field():
    cfg = MonitorConfig(WindowSpec.parse("1h", "10m"), thresholds={"text": 0.2}, seed=3)
    again = MonitorConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.fingerprint() == cfg.fingerprint()
    assert MonitorConfig.from_dict({**cfg.to_dict(), "seed": 4}).fingerprint() != cfg.fingerprint()
    assert MonitorConfig(WindowSpec.parse("1h", "5m")).fingerprint() != MonitorConfig(
        WindowSpec.parse("1h", "10m")).fingerprint()
