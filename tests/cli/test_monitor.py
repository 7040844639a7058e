"""The monitor verb: the offline replay demo, one-shot runs that resume after the stream grew, usage errors,
and (with ../shared) the LLaVA-Bench replay."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mllmshift.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitor"))
from monitor_helpers import reference, stream_records, write_jsonl  # noqa: E402

FAST = ["--text-encoder", "hashing-bow", "--text-encoder-option", "dim=64", "--no-cache", "--divergence", "rjsd",
        "--null-draws", "100", "--bootstrap", "30", "--mi-estimator", "infonce", "--estimator-option", "max_steps=150",
        "--threads", "1"]


@pytest.mark.slow
def test_offline_replay_fires_at_the_first_shifted_window_and_not_before(tmp_path, capsys):
    out = tmp_path / "replay"
    assert main(["monitor", "--replay", "synthetic", "--out", str(out), "--quiet", *FAST]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "replay" / "summary.json").read_text())
    assert summary["first_shifted_window"] == 6 and summary["windows"] == 12
    assert summary["alerts_before_change"] == [] and summary["first_alert_window"] == 6
    assert summary["fired_at_first_shifted_window"] and "fired at the first shifted window: yes" in printed
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["eval"]["seed"] == 0 and cfg["config"]["consecutive"] == 1 and cfg["environment"]["versions"]
    for name in ("series.csv", "series.jsonl", "alerts.jsonl", "index.html", "plots/text.svg", "plots/emid.svg",
                 "metrics.prom"):
        assert (out / name).is_file(), name


def test_one_shot_runs_continue_after_the_stream_grew(tmp_path, capsys):
    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in reference(200)))
    records = stream_records([(0, 120)])
    stream = write_jsonl(tmp_path / "stream.jsonl", records[:70])
    argv = ["monitor", "--reference", str(ref), "--stream", str(stream), "--out", str(tmp_path / "out"),
            "--window", "25", "--terms", "text,answer", *FAST]
    assert main(argv) == 0
    assert "read 70 records, closed 2 windows" in capsys.readouterr().out
    with stream.open("a") as fh:
        fh.write("not json\n")
    write_jsonl(stream, records[70:], mode="a")
    assert main(argv) == 0
    io = capsys.readouterr()
    assert "read 50 records, closed 2 windows, skipped 1 malformed" in io.out
    assert f"{stream}:71: bad JSON" in io.err
    rows = [json.loads(x) for x in (tmp_path / "out" / "series.jsonl").read_text().splitlines()]
    assert [r["window"] for r in rows] == [0, 1, 2, 3] and rows[2]["skipped"] == 1


def test_usage_errors_exit_1_with_a_message(tmp_path, capsys):
    assert main(["monitor", "--out", str(tmp_path / "o")]) == 1
    assert "give --reference and --stream" in capsys.readouterr().err
    assert main(["monitor", "--replay", "synthetic", "--reference", "x.jsonl", "--out", str(tmp_path / "o")]) == 1
    assert "leave out --reference" in capsys.readouterr().err
    assert main(["monitor", "--replay", "llava-bench", "--out", str(tmp_path / "o")]) == 1
    assert "needs --data" in capsys.readouterr().err
    ref = tmp_path / "ref.jsonl"
    ref.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in reference(50)))
    assert main(["monitor", "--reference", str(ref), "--stream", str(tmp_path / "s.jsonl"), "--out",
                 str(tmp_path / "o"), "--window", "1h", "--step", "100", *FAST]) == 1
    assert "same kind" in capsys.readouterr().err


@pytest.mark.shared
@pytest.mark.slow
def test_llava_bench_replay_fires_at_the_first_shifted_window(shared_data, tmp_path, capsys):
    out = tmp_path / "llava"
    assert main(["monitor", "--replay", "llava-bench", "--data", str(shared_data), "--out", str(out), "--quiet",
                 "--threads", "1", "--cache-dir", str(tmp_path / "cache")]) == 0
    summary = json.loads((out / "replay" / "summary.json").read_text())
    assert summary["first_shifted_window"] == 6 and summary["alerts_before_change"] == []
    assert summary["fired_at_first_shifted_window"], summary


CONFIG = """\
reference: ref.jsonl
stream: stream.jsonl
window: 50
terms: [text, answer]
null_draws: 100
seed: 3
encoders: {text: {name: hashing-bow, options: {dim: 64}}}
bound: {divergence: rjsd}
bootstrap: {n_resamples: 30}
threads: 1
"""


def test_a_config_file_drives_the_run_and_flags_override_it(tmp_path, capsys):
    (tmp_path / "ref.jsonl").write_text("".join(json.dumps(s.to_dict()) + "\n" for s in reference(200)))
    write_jsonl(tmp_path / "stream.jsonl", stream_records([(0, 100)]))
    (tmp_path / "monitor.yaml").write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["monitor", "--config", str(tmp_path / "monitor.yaml"), "--out", str(out), "--window", "25",
                 "--no-cache", "--quiet"]) == 0
    assert "read 100 records, closed 4 windows" in capsys.readouterr().out
    written = json.loads((out / "config.json").read_text())
    assert written["config"]["window"]["size"] == 25 and written["config"]["terms"] == ["text", "answer"]
    assert written["config"]["eval"]["seed"] == 3 and written["config"]["eval"]["n_resamples"] == 30
    assert written["config"]["eval"]["text_encoder"] == {"name": "hashing-bow", "options": {"dim": 64}}
    assert written["divergence"]["name"] == "rjsd"
    # provenance: the command and the config file it read, with its SHA-256
    import hashlib

    assert written["run"]["command"].startswith("mllmshift monitor --config ")
    cfg_file = (tmp_path / "monitor.yaml").resolve()
    assert {"path": str(cfg_file), "bytes": cfg_file.stat().st_size,
            "sha256": hashlib.sha256(cfg_file.read_bytes()).hexdigest()} in written["run"]["inputs"]


def test_bad_values_name_their_flag_or_their_line_in_the_config_file(tmp_path, capsys):
    (tmp_path / "ref.jsonl").write_text("".join(json.dumps(s.to_dict()) + "\n" for s in reference(200)))
    path = tmp_path / "monitor.yaml"
    path.write_text(CONFIG)
    base = ["monitor", "--config", str(path), "--out", str(tmp_path / "o"), "--no-cache"]
    assert main([*base, "--alpha", "2"]) == 1
    assert "field '--alpha': must be in (0, 1)" in capsys.readouterr().err
    assert main([*base, "--step", "1h"]) == 1
    assert "field '--step'" in capsys.readouterr().err
    assert main([*base, "--ert", "0.5"]) == 1
    assert "field '--ert': an expected run time must be a number of windows > 1" in capsys.readouterr().err
    assert main([*base, "--metrics-port", "70000"]) == 1
    assert "field '--metrics-port'" in capsys.readouterr().err
    assert main([*base, "--alert-terms", "emi"]) == 1
    assert "field '--alert-terms'" in capsys.readouterr().err
    assert main([*base, "--webhook", "hooks.example.org"]) == 1
    assert "field '--webhook': expected an http(s) URL" in capsys.readouterr().err
    assert main([*base, "--threshold", "text=high"]) == 1
    assert "field '--threshold'" in capsys.readouterr().err
    assert main([*base, "--text-encoder", "no-such-encoder"]) == 1
    assert "field '--text-encoder'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing is written by a run that a bad value stopped
    path.write_text(CONFIG + "ert: 1\n")
    assert main(base) == 1
    assert f"{path}:11: field 'ert'" in capsys.readouterr().err
    path.write_text(CONFIG + "alert_terms: [emi]\n")
    assert main(base) == 1
    assert f"{path}:11: field 'alert_terms': terms ['emi'] cannot raise alerts" in capsys.readouterr().err
    path.write_text(CONFIG.replace("window: 50", "window: 50 records"))
    assert main(base) == 1
    assert f"{path}:3: field 'window'" in capsys.readouterr().err
    path.write_text(CONFIG + "seed: 4\n")
    assert main(base) == 1
    assert f"{path}:11: field 'seed': duplicate key" in capsys.readouterr().err


def test_a_reference_that_cannot_serve_stops_before_anything_is_written(tmp_path, capsys):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in reference(200)[:5]))
    unanswered = tmp_path / "unanswered.jsonl"
    rows = [s.to_dict() for s in reference(30)]
    del rows[3]["response"]
    unanswered.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for ref, message in ((small, "has 5 record(s); the monitor needs at least 10"),
                         (unanswered, "field 'response': the reference 'unanswered' needs a model answer")):
        assert main(["monitor", "--reference", str(ref), "--stream", str(tmp_path / "s.jsonl"), "--out",
                     str(tmp_path / "o"), *FAST]) == 1
        assert message in capsys.readouterr().err
        assert not (tmp_path / "o").exists()
