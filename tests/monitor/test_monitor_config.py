"""Window specs and the monitor config: parsing, validation, the per-term level."""

from __future__ import annotations

import pytest

from mllmshift.errors import DataError
from mllmshift.evaluation.config import ConfigError, EvalConfig
from mllmshift.monitor.config import MonitorConfig, WindowSpec, default_eval


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
    with pytest.raises(DataError, match=">= 1") as err:
        MonitorConfig(w, consecutive=0)
    assert err.value.field == "consecutive"
    with pytest.raises(DataError, match="scale-adjusted"):
        MonitorConfig(w, EvalConfig(bound_form="theorem", entropy_scale=2.0))


def test_evaluation_defaults_are_the_projects_with_fifty_resamples_and_plain_rjsd():
    # the permutation null already removes the JSD's finite-sample bias, so the monitor's terms use plain RJSD
    assert default_eval() == EvalConfig().with_(n_resamples=50, divergence="rjsd")
    assert MonitorConfig(WindowSpec.parse("100")).eval == default_eval()


def test_term_level_is_alpha_shared_by_the_watched_terms():
    cfg = MonitorConfig(WindowSpec.parse("100"), alpha=0.05, alert_terms=("visual", "text", "answer", "emid"))
    assert cfg.window_alpha == 0.05
    assert cfg.term_alpha == pytest.approx(1 - 0.95 ** 0.25)  # Šidák: 0.01274, a little above α/T = 0.0125
    assert 1 - (1 - cfg.term_alpha) ** 4 == pytest.approx(0.05)
    assert cfg.null_draws == 200  # 1/(N + 1) ≤ 0.0127 needs N ≥ 78


def test_an_expected_run_time_sets_the_window_level_through_the_k_rule():
    from mllmshift.monitor.calibration import expected_run_length

    for k in (1, 2, 3):
        cfg = MonitorConfig(WindowSpec.parse("100"), ert=1000, consecutive=k)
        assert expected_run_length(cfg.window_alpha, k) == pytest.approx(1000, rel=1e-9)
        assert 1 - (1 - cfg.term_alpha) ** len(cfg.alert_terms) == pytest.approx(cfg.window_alpha)
        assert 1 / (cfg.null_draws + 1) <= cfg.term_alpha < 1 / cfg.null_draws or cfg.null_draws == cfg.n_null
    assert MonitorConfig(WindowSpec.parse("100"), ert=1000, consecutive=1).window_alpha == pytest.approx(0.001)
    assert MonitorConfig(WindowSpec.parse("100"), ert=1000, consecutive=1).null_draws == 4997
    for bad in (1, 0.5, float("nan"), float("inf"), True, "1000"):
        with pytest.raises(ConfigError) as err:
            MonitorConfig(WindowSpec.parse("100"), ert=bad)
        assert err.value.field == "ert"


def test_config_round_trips_and_fingerprint_tracks_every_field():
    cfg = MonitorConfig(WindowSpec.parse("1h", "10m"), EvalConfig(seed=3, n_resamples=50), thresholds={"text": 0.2})
    again = MonitorConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.fingerprint() == cfg.fingerprint()
    d = cfg.to_dict()
    assert MonitorConfig.from_dict({**d, "eval": {**d["eval"], "seed": 4}}).fingerprint() != cfg.fingerprint()
    assert MonitorConfig.from_dict({**d, "alpha": 0.01}).fingerprint() != cfg.fingerprint()
    # the thread count does not change the numbers, so a resumed run may use another
    assert cfg.with_(eval=cfg.eval.with_(threads=1)).fingerprint() == cfg.fingerprint()
    assert MonitorConfig(WindowSpec.parse("1h", "5m")).fingerprint() != MonitorConfig(
        WindowSpec.parse("1h", "10m")).fingerprint()


def test_a_reference_shorter_than_ten_windows_is_named_at_start_and_a_long_one_is_not():
    cfg = MonitorConfig(window=WindowSpec.parse("100"))
    assert cfg.short_reference(1000) is None
    said = cfg.short_reference(999)
    assert said is not None and "999 records" in said and "1000 records" in said
    assert MonitorConfig(window=WindowSpec.parse("50")).short_reference(500) is None
    # time windows vary in size: no count to compare with
    assert MonitorConfig(window=WindowSpec.parse("60s")).short_reference(10) is None
