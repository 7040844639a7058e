"""End to end: a small study writes every output, its numbers match the core metrics, reruns hit the cache."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from mllmshift.errors import DataError
from mllmshift.evaluation.results import CSV_FIELDS
from mllmshift.study import StudyConfig, run_study
from mllmshift.study.config import SplitSource
from mllmshift.study.state import OutputInUse, StudyState
from study_helpers import make_study, write_split

REPO = Path(__file__).resolve().parents[2]
TOP_KEYS = {"schema", "title", "config", "seeds", "versions", "python", "platform", "device", "threads", "encoders",
            "estimator", "data", "warnings", "id", "scenarios", "correlations", "judge", "summary", "run"}
SCENARIO_KEYS = {"name", "group", "kind", "n", "metadata", "partial", "has_reference", "emi", "emid", "bound",
                 "jsd_response", "mi_response", "notes", "flags"}
BOUND_KEYS = {"value", "jsd_visual", "jsd_text", "jsd_id_output", "jsd_ood_output", "form", "entropy_scale",
              "estimators", "terms", "below_resolution"}
SUMMARY_KEYS = {"id_emi", "n_scenarios", "n_complete", "n_partial", "n_sign_unstable", "sign_unstable", "mean_emi",
                "mean_emid", "mean_bound",
                "per_group", "emid_bound_pearson", "emid_bound_pearson_p", "emid_bound_spearman",
                "emid_bound_kendall", "worst_scenario", "best_scenario", "mean_emi_by_visual_severity",
                "estimator_fingerprint", "fit_set", "fit_set_declared",  # the fit the values are relative to
                # the flags and the bound check (issue #19)
                "id_flags", "n_mi_above_limit", "mi_above_limit", "n_bound_checked", "n_bound_violated",
                "bound_violated", "n_bound_theorem_violated", "bound_theorem_violated"}


def without_run(results: dict) -> dict:
    return {k: v for k, v in results.items() if k != "run"}


def assert_png(path: Path) -> None:
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.size[0] > 100 and im.size[1] > 100
        assert len(np.unique(np.asarray(im.convert("L")))) > 5  # drawn on, not blank


def _make(tmp: Path) -> Path:
    return make_study(tmp)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    cfg_path = _make(root)
    cfg = StudyConfig.from_yaml(cfg_path)
    res = run_study(cfg, root / "out", progress=False)
    return cfg, res


def test_every_output_file_and_key(study):
    cfg, res = study
    out = res.out
    for name in ("results.json", "scenarios.csv", "report.html", "report.md", "samples/id.jsonl",
                 "samples/frost_3.jsonl"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert set(results) == TOP_KEYS
    assert results["schema"] == "mllmshift-study/2"
    assert results["config"] == cfg.to_dict()
    assert results["versions"]["numpy"] == np.__version__
    assert results["device"] == "cpu"  # the default device, recorded
    assert results["encoders"]["text"]["config"]["name"] == "hashing-bow"
    assert results["estimator"]["source"] == "trained" and results["estimator"]["config"]["seed"] == 0
    assert set(results["summary"]) == SUMMARY_KEYS
    assert len(results["scenarios"]) == 5
    for s in results["scenarios"]:
        assert set(s) == SCENARIO_KEYS, s["name"]
        assert set(s["bound"]) == BOUND_KEYS
        assert set(s["emi"]) >= {"value", "mi_response", "mi_reference", "n", "ci"}
        assert set(s["emid"]) == {"value", "ci", "members", "members_agree", "sign_stable", "bound_checks"}
        assert s["emid"]["members"] == [s["emid"]["value"]]  # one estimator: its own value
        assert s["emid"]["ci"]["n_resamples"] == 40
    assert {s["name"]: s["group"] for s in results["scenarios"]} == {
        "frost_1": "visual", "frost_3": "visual", "keyboard_1": "text", "keyboard_3": "text",
        "frost_3_keyboard_3": "joint"}
    assert set(results["seeds"]["bootstrap_emid"]) == {s["name"] for s in results["scenarios"]}
    for group in ("all", "visual", "text", "joint"):
        block = results["correlations"]["emid_vs_bound"][group]
        assert set(block) == {"n", "pearson", "spearman", "kendall"}
    # plots: all four, valid PNGs (the grid-like names give the severity heatmap)
    for name in ("emid_vs_bound", "emi_per_scenario", "severity_heatmap", "jsd_terms"):
        assert_png(out / "plots" / f"{name}.png")
        assert f"plots/{name}.png" in (out / "report.md").read_text()
    assert "data:image/png;base64," in (out / "report.html").read_text()
    # the config's `threads: 1` is the run's thread count, recorded with where it came from
    assert cfg.eval.threads == 1
    assert results["threads"] == {"threads": 1, "usable_cpus": results["threads"]["usable_cpus"],
                                  "load": None, "source": "argument", "requested": 1,
                                  "stages": {s: {"threads": 1, "load": None, "changes": []}
                                             for s in ("embed", "fit", "scenarios")}}
    assert results["warnings"] == []  # the readers kept nothing on request


def test_csv_matches_results(study):
    _, res = study
    rows = list(csv.DictReader((res.out / "scenarios.csv").open()))
    assert tuple(rows[0].keys()) == CSV_FIELDS
    by = {s["name"]: s for s in res.results["scenarios"]}
    assert [r["scenario"] for r in rows] == list(by)
    for r in rows:
        s = by[r["scenario"]]
        assert float(r["emi"]) == pytest.approx(s["emi"]["value"], rel=1e-5, abs=1e-9)
        assert float(r["emid"]) == pytest.approx(s["emid"]["value"], rel=1e-5, abs=1e-9)
        assert float(r["bound"]) == pytest.approx(s["bound"]["value"], rel=1e-5)
        assert float(r["emid_low"]) == pytest.approx(s["emid"]["ci"]["low"], rel=1e-5, abs=1e-9)


def test_numbers_equal_the_core_metrics_on_the_cached_state(study):
    """Recompute every scenario from the saved embeddings and estimator with the core functions."""
    from mllmshift.estimators import load_mi_estimator
    from mllmshift.metrics import emi_of, emid_upper_bound
    from mllmshift.provenance import derive_seed
    from mllmshift.metrics import bootstrap_emid

    _, res = study
    state = res.out / ".state"
    (ckpt,) = (state / "estimator").glob("*.pt")
    est = load_mi_estimator(ckpt)  # the cross-fitted CLUB (held out by default)
    emb = {p.name.split(".")[0]: StudyState(res.out).load_embedded(p, p.name.split(".")[0])
           for p in (state / "embedded").glob("*.npz")}
    id_e = emb["id"]
    id_emi = emi_of(id_e, est).value
    assert res.results["id"]["emi"]["value"] == pytest.approx(id_emi, abs=1e-9)
    for s in res.results["scenarios"]:
        e = emb[s["name"]]
        emi = emi_of(e, est).value
        assert s["emi"]["value"] == pytest.approx(emi, abs=1e-9)
        assert s["emid"]["value"] == pytest.approx(id_emi - emi, abs=1e-9)
        b = emid_upper_bound(id_e, e)
        assert s["bound"]["value"] == pytest.approx(b.value, rel=1e-9)
        assert s["bound"]["jsd_text"] == pytest.approx(b.jsd_text, rel=1e-9, abs=1e-12)
        ci = bootstrap_emid(id_e, e, est, 40, derive_seed(0, "emid", "id", s["name"]), 0.95)
        assert s["emid"]["ci"]["low"] == pytest.approx(ci.low, abs=1e-9)
    # the correlation is the scipy one on the scenario values
    emid = [s["emid"]["value"] for s in res.results["scenarios"]]
    bound = [s["bound"]["value"] for s in res.results["scenarios"]]
    pear = res.results["correlations"]["emid_vs_bound"]["all"]["pearson"]
    assert pear["r"] == pytest.approx(sps.pearsonr(emid, bound).statistic, abs=1e-12)
    assert pear["p_value"] == pytest.approx(sps.pearsonr(emid, bound).pvalue, rel=1e-9)


def test_degradation_is_visible(study):
    """The synthetic answers are wrong more often in frost_3 than frost_1: EMI must be lower there."""
    _, res = study
    by = {s["name"]: s for s in res.results["scenarios"]}
    assert by["frost_3"]["emi"]["value"] < by["frost_1"]["emi"]["value"]
    assert by["frost_3"]["bound"]["jsd_ood_output"] > by["frost_1"]["bound"]["jsd_ood_output"]


def test_second_run_is_served_from_the_cache(study):
    cfg, res = study
    again = run_study(cfg, res.out, progress=False)
    stages = again.results["run"]["stages"]
    for stage in ("embed", "estimator", "scenarios"):
        assert stages[stage]["computed"] == 0, stage
    assert stages["embed"]["cached"] == 6 and stages["scenarios"]["cached"] == 6
    assert without_run(again.results) == without_run(res.results)
    assert without_run(json.loads((res.out / "results.json").read_text())) == without_run(res.results)


def test_changed_seed_recomputes_bootstrap_but_not_embeddings(study, tmp_path):
    cfg, res = study
    import shutil

    out = tmp_path / "out"
    shutil.copytree(res.out, out)
    with pytest.raises(OutputInUse, match="--overwrite"):  # never replaces another config's results silently
        run_study(cfg.with_(seed=1), out, progress=False)
    assert json.loads((out / "results.json").read_text())["config"]["eval"]["seed"] == 0
    other = run_study(cfg.with_(seed=1), out, progress=False, overwrite=True)
    st = other.results["run"]["stages"]
    assert st["embed"]["computed"] == 0 and st["estimator"]["computed"] == 1 and st["scenarios"]["computed"] == 6
    assert other.results["seeds"]["global"] == 1


_KILL_SCRIPT = r"""
import sys, time
from mllmshift.study import StudyConfig, run_study
from mllmshift.study.config import SplitSource
from mllmshift.evaluation import pipeline
orig = pipeline.evaluate_scenario
def slow(*a, **k):
    out = orig(*a, **k)
    time.sleep(0.6)
    return out
pipeline.evaluate_scenario = slow
run_study(StudyConfig.from_yaml(sys.argv[1]), sys.argv[2], progress=False)
"""


def test_killed_run_resumes_to_the_same_results(tmp_path):
    cfg_path = _make(tmp_path)
    cfg = StudyConfig.from_yaml(cfg_path)
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(cfg_path), str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    scen_dir = killed / ".state" / "scenarios"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(scen_dir.glob("*.json.sha256"))) >= 3:  # the ID and two scenarios are done (and sealed)
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"study ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(scen_dir.glob("*.json.sha256")))  # an entry killed before its checksum is recomputed
    assert 3 <= done_before < 6 and not (killed / "results.json").exists()
    assert not list(scen_dir.glob(".*.tmp"))  # atomic writes: no half-written entries are visible
    resumed = run_study(cfg, killed, progress=False)
    st = resumed.results["run"]["stages"]
    assert st["estimator"]["computed"] == 0 and st["embed"]["computed"] == 0
    assert st["scenarios"]["cached"] == done_before and st["scenarios"]["computed"] == 6 - done_before
    straight = run_study(cfg, tmp_path / "straight", progress=False)
    assert without_run(resumed.results) == without_run(straight.results)


def test_partial_scenario_without_references(tmp_path):
    cfg_path = _make(tmp_path)
    write_split(tmp_path / "data" / "shifted" / "wild_hard.jsonl", 0.5, n=30, seed=9, references=False)
    res = run_study(StudyConfig.from_yaml(cfg_path), tmp_path / "out", progress=False)
    wild = next(s for s in res.results["scenarios"] if s["name"] == "wild_hard")
    assert wild["partial"] and wild["group"] == "visual"
    assert wild["emi"] is None if "emi" in wild else True
    assert wild["bound"]["value"] is None and wild["bound"]["jsd_ood_output"] is None
    assert wild["bound"]["jsd_text"] is not None and wild["bound"]["jsd_id_output"] is not None
    assert wild["mi_response"] is not None and wild["jsd_response"] > 0
    assert any("reference" in n for n in wild["notes"])
    assert res.results["summary"]["n_partial"] == 1
    # the partial scenario is left out of the correlations
    assert res.results["correlations"]["emid_vs_bound"]["all"]["n"] == 5
    assert "wild_hard *" in (res.out / "report.md").read_text()


def test_judge_scores_are_correlated_with_emi(tmp_path):
    scores = tmp_path / "judge.csv"
    wins = {"frost_1": 0.61, "frost_3": 0.40, "keyboard_1": 0.66, "keyboard_3": 0.52, "frost_3_keyboard_3": 0.31}
    scores.write_text("scenario,win_rate\n" + "".join(f"{k},{v}\n" for k, v in wins.items()))
    cfg_path = make_study(tmp_path, extra={"judge": "judge.csv"})
    res = run_study(StudyConfig.from_yaml(cfg_path), tmp_path / "out", progress=False)
    block = res.results["correlations"]["emi_vs_judge"]["win_rate"]["all"]
    emi = [s["emi"]["value"] for s in res.results["scenarios"]]
    w = [wins[s["name"]] for s in res.results["scenarios"]]
    assert block["spearman"]["r"] == pytest.approx(sps.spearmanr(emi, w).statistic, abs=1e-12)
    rows = list(csv.DictReader((res.out / "scenarios.csv").open()))
    assert {r["scenario"]: float(r["win_rate"]) for r in rows} == wins
    assert "EMI vs judge score `win_rate`" in (res.out / "report.md").read_text()


def test_scenario_without_any_visual_input_under_mean_fusion(tmp_path):
    """No captions and no references (LLaVA in-the-wild): X is the question alone, so no MI terms."""
    cfg_path = make_study(tmp_path, extra={"encoders": {"text": {"name": "hashing-bow", "options": {"dim": 32}},
                                                        "image": None, "fusion": "mean"}})
    write_split(tmp_path / "data" / "shifted" / "wild_easy.jsonl", 0.5, 0.3, n=20, seed=9, references=False,
                captions=False)
    res = run_study(StudyConfig.from_yaml(cfg_path), tmp_path / "out", progress=False)
    wild = next(s for s in res.results["scenarios"] if s["name"] == "wild_easy")
    assert wild["partial"] and wild["mi_response"] is None and wild["emi"] is None and wild["emid"] is None
    assert wild["bound"]["jsd_visual"] is None and wild["bound"]["jsd_text"] > 0
    assert any("no visual input" in n for n in wild["notes"])
    assert "wild_easy" not in res.results["estimator"]["trained_on"]
    assert res.results["summary"]["n_complete"] == 5


def test_cli_runs_a_study_and_prints_the_headline(tmp_path, capsys):
    from mllmshift.cli.main import main

    cfg_path = make_study(tmp_path)
    assert main(["study", str(cfg_path), "--out", str(tmp_path / "out"), "--quiet", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["config"]["eval"]["n_resamples"] == 20
    assert f"report: {(tmp_path / 'out' / 'report.html').resolve()}" in out
    assert f"ID EMI {res['summary']['id_emi']:+.3f}" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: a.jsonl\nscenarios: [b.jsonl]\nbootstrap: {n_resample: 3}\n")
    assert main(["study", str(bad), "--out", str(tmp_path / "o2")]) == 1
    assert f"{bad}:3: field 'bootstrap.n_resample': unknown key" in capsys.readouterr().err


def test_data_kept_on_request_is_a_warning_in_the_results_and_the_headline(tmp_path):
    """A reader opt-in (options: {allow_empty: true}) keeps an empty answer; the typed result, results.json and
    the printed headline say so, naming the split."""
    from mllmshift.cli.study import headline

    cfg_path = make_study(tmp_path, extra={"id": {"path": "data/id.jsonl", "options": {"allow_empty": True}}})
    rows = [json.loads(line) for line in (tmp_path / "data" / "id.jsonl").read_text().splitlines()]
    rows[3]["response"] = "  "
    (tmp_path / "data" / "id.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = StudyConfig.from_yaml(cfg_path)
    with pytest.raises(DataError, match="id.jsonl:4: field 'response': sample '3' has an empty response"):
        run_study(cfg.with_(id=SplitSource(cfg.id.path)), tmp_path / "strict", progress=False)  # no opt-in
    res = run_study(cfg, tmp_path / "out", progress=False)
    expected = "id: 1 of 30 samples have an empty response (kept on request: allow_empty)"
    assert len(res.result.warnings) == 1 and res.result.warnings[0].startswith(expected)
    assert json.loads((res.out / "results.json").read_text())["warnings"] == list(res.result.warnings)
    assert f"  warning: {res.result.warnings[0]}" in headline(res.result, res.out)
