"""The monitor end to end on generated streams: change points, restarts, malformed records, sources, sinks."""

from __future__ import annotations

import io
import json
import math

import pytest
from monitor_helpers import config, fast_eval, monitor, reference, series, stream_records, write_jsonl
from test_monitor_alerts import _Server

from mllmshift.components import Component
from mllmshift.errors import MllmshiftError
from mllmshift.monitor.replay import first_window_with

DRIFT = ("text", "answer")  # the drift terms only: no MI estimator to fit, so these runs are quick


@pytest.mark.parametrize("step", [None, "25"])
def test_alert_at_or_after_the_change_never_before_within_k_windows(tmp_path, step):
    ref = reference(200)
    stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 400), (2, 200)]))
    cfg = config("50", step, consecutive=2)
    m = monitor(cfg, ref, stream, tmp_path / "out")
    m.run_once()
    rows = series(tmp_path / "out")
    s = int(cfg.window.step)
    change = first_window_with(400, 50, s)  # the first window holding a shifted record
    settled = first_window_with(400 + 50 - 1, 50, s)  # the first window holding shifted records only
    fired = [r["window"] for r in rows if r["alerts"]]
    assert len(rows) == (600 - 50) // s + 1
    assert fired and min(fired) >= change, fired
    assert min(fired) <= settled + cfg.consecutive - 1, (fired, change, settled)
    alerts = [json.loads(line) for line in (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()]
    assert alerts[0]["window"] == min(fired) and alerts[0]["top_samples"]
    assert all(int(t["id"][1:]) >= 400 - 50 for t in alerts[0]["top_samples"])  # named records are recent ones
    first = alerts[0]
    assert set(first["terms"]) == set(first["top_samples_by_term"]) and first["terms"]
    row = next(r for r in rows if r["window"] == first["window"])
    assert set(first["terms"]) == {t for t in cfg.alert_terms if row.get(f"{t}_over")}  # the terms that crossed
    for t, d in first["terms"].items():
        assert d["p"] <= cfg.term_alpha and d["value"] > d["threshold"]
    parts = first["bound"]["parts"]  # the bound is the sum of its parts; each part is its term's summand
    assert sum(parts.values()) == pytest.approx(row["bound"], rel=1e-9)
    assert parts["text"] == pytest.approx(math.sqrt(row["text"])) and parts["output"] == pytest.approx(row["output"])
    assert sum(first["bound"]["shares"].values()) == pytest.approx(1.0)
    assert (tmp_path / "out" / "plots" / "text.svg").is_file() and (tmp_path / "out" / "index.html").is_file()


def _appended_run(tmp_path, cfg, ref, records, cuts):
    """Run once per cut of the stream, with a new Monitor each time (a restart), the last line half written."""
    path = tmp_path / "grow.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in records)
    logs = []
    for cut in [*cuts, len(text)]:
        path.write_text(text[:cut])
        logs.append(io.StringIO())
        monitor(cfg, ref, path, tmp_path / "grown", log=logs[-1]).run_once()
    fitted = ["fitting the MI estimator" in log.getvalue() for log in logs]
    assert fitted == [True] + [False] * len(cuts)  # a restart loads the estimator it saved
    return series(tmp_path / "grown")


def test_restart_mid_stream_gives_the_same_series_as_an_uninterrupted_run(tmp_path):
    ref = reference(200)
    records = stream_records([(0, 230), (2, 120)])
    cfg = config("40", "20", consecutive=1, min_references=15)
    whole = tmp_path / "whole.jsonl"
    write_jsonl(whole, records)
    monitor(cfg, ref, whole, tmp_path / "once").run_once()
    want = series(tmp_path / "once")
    size = len(whole.read_text())
    got = _appended_run(tmp_path, cfg, ref, records, [size // 7, size // 3 + 11, size // 2, 3 * size // 4 - 5])
    assert len(got) == len(want) == (350 - 40) // 20 + 1
    assert got == want  # same numbers: every draw is seeded by the window, buffers keep their embeddings
    def alerts(out):  # the same alerts, naming records by id (their sources are the two files)
        docs = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
        for d in docs:
            for s in d["top_samples"] + [x for v in d["top_samples_by_term"].values() for x in v]:
                assert s.pop("source").endswith(f".jsonl:{int(s['id'][1:]) + 1}")
        return docs

    assert alerts(tmp_path / "once") and alerts(tmp_path / "grown") == alerts(tmp_path / "once")


def test_a_crash_after_rows_were_written_is_cut_back_on_resume(tmp_path):
    ref = reference(200)
    stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 200)]))
    cfg = config("50", terms=DRIFT, alert_terms=DRIFT)
    monitor(cfg, ref, stream, tmp_path / "out").run_once()
    want = (tmp_path / "out" / "series.csv").read_text()
    with (tmp_path / "out" / "series.jsonl").open("a") as fh:  # rows written after the last saved state
        fh.write('{"window": 99}\n{"wind')
    with (tmp_path / "out" / "series.csv").open("a") as fh:
        fh.write("99,x\n")
    m = monitor(cfg, ref, stream, tmp_path / "out")
    assert m.run_once().records == 0  # nothing new is read again
    assert (tmp_path / "out" / "series.csv").read_text() == want
    write_jsonl(stream, stream_records([(0, 250)])[200:], mode="a")
    assert monitor(cfg, ref, stream, tmp_path / "out").run_once().windows == 1
    assert [r["window"] for r in series(tmp_path / "out")] == [0, 1, 2, 3, 4]


def test_malformed_records_are_reported_skipped_and_counted(tmp_path):
    ref = reference(200)
    good = stream_records([(0, 100)])
    path = tmp_path / "s.jsonl"
    lines = [json.dumps(r) for r in good]
    lines.insert(5, "{broken json")
    lines.insert(30, json.dumps({"timestamp": "2025-01-01T00:00:00Z", "question": "q"}))
    lines.insert(31, json.dumps({**good[0], "timestamp": "tomorrow"}))
    path.write_text("\n".join(lines) + "\n")
    log = io.StringIO()
    cfg = config("25", terms=DRIFT, alert_terms=DRIFT)
    summary = monitor(cfg, ref, path, tmp_path / "out", log=log).run_once()
    assert (summary.records, summary.skipped, summary.windows) == (100, 3, 4)
    text = log.getvalue()
    assert f"{path}:6: bad JSON" in text
    assert f"{path}:31: field 'response': missing" in text
    assert f"{path}:32: field 'timestamp': not an ISO 8601" in text
    rows = series(tmp_path / "out")
    assert [r["skipped"] for r in rows] == [1, 2, 0, 0] and [r["skipped_total"] for r in rows] == [1, 3, 3, 3]
    skipped = [json.loads(x) for x in (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()]
    assert [(s["line"], s["field"]) for s in skipped] == [(6, None), (31, "response"), (32, "timestamp")]


def test_a_drop_folder_of_jsonl_batches_and_parquet_shards_gives_the_same_series_as_one_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    ref = reference(200)
    records = stream_records([(0, 150), (2, 50)])
    cfg = config("50", terms=DRIFT, alert_terms=DRIFT)
    write_jsonl(tmp_path / "one.jsonl", records)
    monitor(cfg, ref, tmp_path / "one.jsonl", tmp_path / "a").run_once()
    drop = tmp_path / "drop"
    drop.mkdir()
    write_jsonl(drop / "batch-000.jsonl", records[:70])
    pq.write_table(pa.Table.from_pylist(records[70:160]), drop / "batch-001.parquet")
    monitor(cfg, ref, drop, tmp_path / "b").run_once()
    write_jsonl(drop / "batch-002.jsonl", records[160:])  # a batch dropped later
    monitor(cfg, ref, drop, tmp_path / "b").run_once()
    assert series(tmp_path / "b") == series(tmp_path / "a") and len(series(tmp_path / "a")) == 4


def test_time_windows_cover_aligned_intervals(tmp_path):
    ref = reference(200)
    stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 200)], every_s=10.0))
    cfg = config("5m", terms=DRIFT, alert_terms=DRIFT)
    monitor(cfg, ref, stream, tmp_path / "out").run_once()
    rows = series(tmp_path / "out")
    assert [r["n"] for r in rows] == [30] * 6  # 200 records 10 s apart: six full 5-minute windows closed
    assert rows[0]["start"] == "2025-01-01T00:00:00Z" and rows[0]["end"] == "2025-01-01T00:05:00Z"
    assert rows[1]["start"] == "2025-01-01T00:05:00Z"
    assert all(r["text"] is not None and r["text_threshold"] is not None for r in rows)


def test_resuming_with_another_config_or_an_impossible_window_is_refused(tmp_path):
    ref = reference(200)
    stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 60)]))
    monitor(config("50", terms=DRIFT, alert_terms=DRIFT), ref, stream, tmp_path / "out").run_once()
    with pytest.raises(MllmshiftError, match="another config"):
        monitor(config("40", terms=DRIFT, alert_terms=DRIFT), ref, stream, tmp_path / "out")
    fresh = monitor(config("40", terms=DRIFT, alert_terms=DRIFT), ref, stream, tmp_path / "out", restart=True)
    assert fresh.run_once().windows == 1
    with pytest.raises(MllmshiftError, match="reference of at least 300 records"):
        monitor(config("150", terms=DRIFT, alert_terms=DRIFT), ref, stream, tmp_path / "other")


def test_alerts_reach_a_webhook(tmp_path):
    from mllmshift.monitor.alerts import WebhookSink

    srv = _Server()
    try:
        ref = reference(200)
        stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 100), (3, 100)]))
        cfg = config("50", terms=DRIFT, alert_terms=DRIFT, consecutive=1)
        out = io.StringIO()
        summary = monitor(cfg, ref, stream, tmp_path / "out", alert_stream=out,
                          webhook=WebhookSink(srv.url, timeout=2, retries=1, backoff=0.01)).run_once()
    finally:
        srv.close()
    assert summary.alerts and [b for _, b in srv.bodies] == summary.alerts
    assert out.getvalue().count("ALERT window") == len(summary.alerts)
    assert srv.bodies[0][1]["window"] >= 2


def test_follow_polls_until_idle(tmp_path):
    ref = reference(200)
    stream = write_jsonl(tmp_path / "s.jsonl", stream_records([(0, 100)]))
    summary = monitor(config("50", terms=DRIFT, alert_terms=DRIFT), ref, stream, tmp_path / "out").follow(
        poll_s=0.01, max_idle_s=0.05)
    assert (summary.records, summary.windows) == (100, 2) and len(series(tmp_path / "out")) == 2


def test_images_are_embedded_with_the_image_encoder_and_their_drift_is_seen(tmp_path):
    import numpy as np
    from PIL import Image

    from mllmshift.records import Sample, Split

    folder = tmp_path / "img"
    folder.mkdir()
    for k in range(10):  # images 0–4 are the reference's kind, 5–9 a new kind
        Image.fromarray(np.full((8, 8, 3), 20 * k, np.uint8)).save(folder / f"{k}.png")
    rng = np.random.default_rng(0)
    base = stream_records([(0, 260)])
    ref = Split("ref", tuple(Sample(id=f"r{i}", question=r["question"], response=r["response"],
                                    reference=r["reference"], image=str(folder / f"{rng.integers(5)}.png"))
                             for i, r in enumerate(base[:200])))
    stream = [{**r, "image": f"img/{rng.integers(5) if i < 21 else 5 + rng.integers(5)}.png"}
              for i, r in enumerate(base[200:])]
    stream[3] = {**stream[3], "image": "img/missing.png"}
    path = write_jsonl(tmp_path / "s.jsonl", stream)
    cfg = config("20", terms=("visual", "text"), alert_terms=("visual", "text"), consecutive=1,
                 eval=fast_eval(image_encoder=Component("content-hash", {"modality": "image", "dim": 16})))
    log = io.StringIO()
    summary = monitor(cfg, ref, path, tmp_path / "out", log=log).run_once()
    assert summary.skipped == 1 and f"{path}:4: field 'image': image file not found" in log.getvalue()
    rows = series(tmp_path / "out")
    assert len(rows) == 2 and all(r["visual"] is not None for r in rows)
    assert rows[0]["alerts"] is None and rows[1]["alerts"] == "visual"  # the second window shows new images
    assert rows[1]["moved_most"] == "visual"


def test_emi_is_computed_with_the_estimators_of_the_evaluation_core(tmp_path):
    """The monitor's MI estimators are those of ``mllmshift emi``'s step 2 (get_estimators, same EvalConfig) on
    the reference's fit half, and a window's EMI is their ensemble mean on the window's records."""
    from mllmshift.evaluation.embedding import Encoders, embed_split
    from mllmshift.evaluation.estimation import get_estimators
    from mllmshift.metrics import emi
    from mllmshift.records import Sample, Split

    ref = reference(200)
    records = stream_records([(0, 50)])
    cfg = config("50", eval=fast_eval(n_estimators=2), terms=("text", "emi"), alert_terms=("text",),
                 min_references=15)
    m = monitor(cfg, ref, write_jsonl(tmp_path / "s.jsonl", records), tmp_path / "out")
    m.run_once()
    assert len(m.ensemble.members) == 2 and m.ensemble.info["trained_on"] == ["ref-fit-half"]
    encoders = Encoders(cfg.eval)
    e = embed_split(ref, encoders, None)
    again = get_estimators([e.subset(m.calc.ref.fit)], cfg.eval)
    held_out = e.subset(m.calc.ref.calibration)
    for ours, core in zip(m.ensemble.members, again.members):
        assert ours.mi(held_out.x, held_out.response) == pytest.approx(core.mi(held_out.x, held_out.response),
                                                                       abs=1e-5)
    window = embed_split(Split("w", tuple(Sample(**{k: v for k, v in r.items() if k != "timestamp"})
                                          for r in records)), encoders, None)
    (row,) = series(tmp_path / "out")
    assert row["emi"] == pytest.approx(emi(window.x, window.response, window.reference, again.members).value,
                                       abs=1e-5)


@pytest.mark.slow
def test_false_alarm_rate_through_the_monitor_on_a_stationary_stream_is_below_the_stated_level(tmp_path):
    """120 windows of 30 records drawn like the reference (independent draws of the same generator, no shift),
    α = 0.05 per window shared by the watched terms, k = 1: about α of the windows have an alert, and no
    term's estimate is over its threshold grossly more often than its level α/T."""
    n, w = 120, 30
    cfg = config(str(w), consecutive=1, alpha=0.05, min_references=10)
    out = tmp_path / "out"
    m = monitor(cfg, reference(300), write_jsonl(tmp_path / "s.jsonl", stream_records([(0, n * w)], seed=5)), out)
    m.run_once()
    rows = series(out)
    assert len(rows) == n and m.watched == ["text", "answer", "output_shift", "emid"]
    assert all(r[f"{t}_threshold"] is not None for r in rows for t in m.watched)
    alarms = sum(bool(r["alerts"]) for r in rows)
    # one decision per window at level ≤ α (the estimates' p-values, Šidák over the terms): the count of alarmed
    # windows is at most Binomial(120, 0.05) in law, whose mean + 3 sd is 13.2 (this seed: 7)
    assert alarms <= cfg.alpha * n + 3 * math.sqrt(n * cfg.alpha * (1 - cfg.alpha)), alarms
    over = {t: sum(r[t] > r[f"{t}_threshold"] for r in rows) for t in m.watched}
    # Every window shares one threshold per term: with 100 null draws at level 0.0102 (Šidák) it is their maximum,
    # and the chance p that a no-shift window exceeds it is Beta(1, 100)-distributed over the draws (mean 1/101),
    # so counts are overdispersed; p > 0.06 has probability 0.94^100 ≈ 0.002, and at p = 0.06 more than 14 of
    # 120 windows over has probability < 0.01. (This seed: 6, 2, 0 and 6.)
    assert all(c <= 14 for c in over.values()), over


def test_a_silent_model_swap_alerts_on_the_answer_side_only(tmp_path):
    """The inputs do not drift, the model changes: the stream's questions are independent in-distribution draws
    throughout, but from record 200 on the answers are model B's (evasive ones). The alert must fire after the
    swap and name answer-side terms only; the question term never crosses."""
    from mllmshift.monitor.replay import EVASIVE

    records = stream_records([(0, 400)], seed=3)
    for i, r in enumerate(records[200:]):
        r["response"] = EVASIVE[i % len(EVASIVE)]
    cfg = config("50", consecutive=1, terms=("text", "answer", "output", "output_shift"),
                 alert_terms=("text", "answer", "output_shift"))
    m = monitor(cfg, reference(200), write_jsonl(tmp_path / "s.jsonl", records), tmp_path / "out")
    m.run_once()
    rows = series(tmp_path / "out")
    fired = [r for r in rows if r["alerts"]]
    assert fired and fired[0]["window"] == 4  # the first window of model B's answers
    assert not any(r["alerts"] for r in rows[:4])
    assert all(not r["text_over"] for r in rows)  # the questions did not move
    assert all(set(r["alerts"].split(";")) <= {"answer", "output_shift"} for r in fired)
    assert all(r["answer_over"] for r in rows[4:])
