"""The monitor's config file: strict YAML, the study's evaluation keys, relative paths, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mllmshift.components import Component
from mllmshift.errors import DataError
from mllmshift.evaluation.config import ConfigError, EvalConfig
from mllmshift.monitor.config import MonitorConfig, WindowSpec
from mllmshift.monitor.config_file import WebhookSpec, located, read_monitor_file

FULL = """\
reference: data/id.jsonl
stream: traffic/
window: 1h
step: 15m
terms: [text, answer, output, emi, emid]
alert_terms: [text, emid]
alpha: 0.01
ert: 500
consecutive: 3
thresholds: {text: 0.25}
null_draws: 150
min_records: 12
min_references: 25
top_k: 3
stream_columns: {timestamp: ts}
webhook: {url: "http://127.0.0.1:9/hook", timeout: 2, retries: 1}
seed: 7
encoders: {text: {name: hashing-bow, options: {dim: 64}}, image: null}
estimator: {name: infonce, options: {max_steps: 100}, n_estimators: 2}
bound: {divergence: rjsd}
bootstrap: {confidence: 0.9}
threads: 1
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "monitor.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_every_key_is_read_and_paths_are_resolved_against_the_file(tmp_path):
    f = read_monitor_file(write(tmp_path, FULL))
    assert f.reference is not None and f.reference.path == str((tmp_path / "data" / "id.jsonl").resolve())
    assert f.stream == str((tmp_path / "traffic").resolve())
    assert f.webhook == WebhookSpec("http://127.0.0.1:9/hook", 2.0, 1)
    assert f.eval == EvalConfig(text_encoder=Component("hashing-bow", {"dim": 64}), image_encoder=None,
                                estimator=Component("infonce", {"max_steps": 100}), n_estimators=2,
                                divergence=Component("rjsd"), n_resamples=50, confidence=0.9, seed=7, threads=1)
    fields = dict(f.fields)
    window = WindowSpec.parse(fields.pop("window"), fields.pop("step"))
    cfg = MonitorConfig(window, f.eval, **fields)
    assert (cfg.window.kind, cfg.window.size, cfg.window.step) == ("time", 3600.0, 900.0)
    assert cfg.terms == ("text", "answer", "output", "emi", "emid") and cfg.alert_terms == ("text", "emid")
    assert (cfg.alpha, cfg.consecutive, cfg.n_null, cfg.min_records, cfg.min_references, cfg.top_k) == \
        (0.01, 3, 150, 12, 25, 3)
    assert cfg.thresholds == {"text": 0.25} and cfg.stream_columns == {"timestamp": "ts"}
    assert cfg.ert == 500.0 and cfg.window_alpha != cfg.alpha  # the run time sets the level


def test_a_file_without_evaluation_keys_has_the_monitors_defaults_as_flags_do(tmp_path):
    # 50 resamples and the plug-in RJSD (MONITOR_EVAL_DEFAULTS), the same as from flags alone (default_eval)
    from mllmshift.monitor.config import MONITOR_DIVERGENCE, default_eval

    f = read_monitor_file(write(tmp_path, "window: 500\n"))
    assert f.eval == EvalConfig(n_resamples=50, divergence=MONITOR_DIVERGENCE) == default_eval()
    assert MONITOR_DIVERGENCE == "rjsd" and f.fields == {"window": "500"} and f.reference is None


@pytest.mark.parametrize("text,line,field,message", [
    ("window: 100\nalpha: 1.5\n", 2, "alpha", "must be < 1"),
    ("window: 100\nconsecutive: 0\n", 2, "consecutive", ">= 1"),
    ("window: 100\nterms: text\n", 2, "terms", "expected a list"),
    ("window: 100\ncolour: red\n", 2, "colour", "unknown key"),
    ("window: 100\nwindow: 200\n", 2, "window", "duplicate key"),
    ("window: 100\nwebhook: ftp://x\n", 2, "webhook", "http(s) URL"),
    ("seed: 1\nencoders:\n  fusion: sideways\n", 3, "encoders.fusion", "expected one of"),
    ("estimator:\n  name: no-such-estimator\n", 2, "estimator.name", "no-such-estimator"),
    ("bootstrap:\n  confidence: 2\n", 2, "bootstrap.confidence", "must be in (0, 1)"),
    ("thresholds:\n  text: high\n", 2, "thresholds.text", "expected a number"),
])
def test_bad_values_name_the_file_line_and_field(tmp_path, text, line, field, message):
    p = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        read_monitor_file(p)
    assert (err.value.path, err.value.line, err.value.field) == (str(p), line, field)
    assert message in err.value.message


def test_values_the_config_refuses_are_located_at_their_flag_or_yaml_field(tmp_path):
    p = write(tmp_path, "window: 100\nalert_terms: [emi]\nbootstrap: {n_resamples: 1}\n")
    with pytest.raises(DataError) as err:  # one resample: refused by the evaluation config as the file is read
        read_monitor_file(p)
    assert (err.value.line, err.value.field) == (3, "bootstrap.n_resamples")
    p = write(tmp_path, "window: 100\nalert_terms: [emi]\nbootstrap: {n_resamples: 0}\n")
    f = read_monitor_file(p)
    flags = {"alert_terms": "--alert-terms", "n_resamples": "--bootstrap"}
    # from the file: its line
    with pytest.raises(DataError) as err, located(set(), flags, f.doc):
        MonitorConfig(WindowSpec.parse("100"), EvalConfig(), alert_terms=f.fields["alert_terms"])
    assert (err.value.path, err.value.line, err.value.field) == (str(p), 2, "alert_terms")
    with pytest.raises(DataError) as err, located(set(), flags, f.doc):
        MonitorConfig(WindowSpec.parse("100"), f.eval)
    assert (err.value.line, err.value.field) == (3, "bootstrap.n_resamples")
    with pytest.raises(DataError) as err, located(set(), flags, f.doc):
        WindowSpec.parse("1w")
    assert (err.value.line, err.value.field) == (1, "window")
    # given by a flag: the flag, no file
    with pytest.raises(DataError) as err, located({"alert_terms"}, flags, f.doc):
        raise ConfigError("bad", field="alert_terms")
    assert (err.value.path, err.value.line, err.value.field) == (None, None, "--alert-terms")
