"""The report from a fixed results dict: tables carry the numbers, plots are drawn, Chromium renders it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dataclasses import replace

from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.results import ScenarioResult, SplitResult, StudyResult
from mllmshift.metrics import BoundResult, EMIResult, Interval
from mllmshift.report import write_report
from mllmshift.report.document import Document, Heading, Table, to_html, to_markdown
from mllmshift.report.plots import bound_contributions, severity_table
from mllmshift.study.stats import correlations_by_group


def interval(low, high):
    return Interval(low, high, 0.02, 100, 0, 0.95)


def emi_result(value, n=36, ceiling=None, mi_reference=1.0):
    return EMIResult(value, mi_reference + value, mi_reference, n, ceiling, (value,))


def scenario(name, group, emi, bound_terms, severity=None, partial=False, visual=None, text=None, level=None):
    jv, jt, jp, jq = bound_terms
    bound = BoundResult(None if partial else float(np.sqrt(jv) + np.sqrt(jt) + jp ** 0.25 + jq ** 0.25), jv, jt, jp,
                        None if partial else jq, "scale-adjusted", None)
    shifted = SplitResult(name, 36, None if partial else emi_result(emi),
                          None if partial else interval(emi - 0.05, emi + 0.05))
    return ScenarioResult(name, group, "grid", 36, shifted, bound, None if partial else 0.2 - emi,
                          () if partial else (0.2 - emi,), None if partial else interval(0.15 - emi, 0.25 - emi),
                          0.1, partial, not partial, (), {"visual": visual, "severity": severity, "text": text,
                                                         "level": level})


def fake_results() -> StudyResult:
    scen = (
        scenario("frost_1", "visual", 0.15, (0.01, 0.0, 0.02, 0.03), 1, visual="frost"),
        scenario("frost_5", "visual", -0.10, (0.09, 0.0, 0.02, 0.12), 5, visual="frost"),
        scenario("defocus_blur_1", "visual", 0.12, (0.02, 0.0, 0.02, 0.04), 1, visual="defocus_blur"),
        scenario("defocus_blur_5", "visual", -0.02, (0.07, 0.0, 0.02, 0.09), 5, visual="defocus_blur"),
        scenario("keyboard_1", "text", 0.18, (0.0, 0.03, 0.02, 0.03), text="keyboard", level=1),
        scenario("keyboard_2", "text", 0.05, (0.0, 0.08, 0.02, 0.06), text="keyboard", level=2),
        scenario("frost_5_keyboard_2", "joint", -0.2, (0.09, 0.08, 0.02, 0.15)),
        scenario("wild_hard", "visual", None, (0.0, 0.05, 0.02, None), partial=True),
    )
    result = StudyResult(
        title="Report test study", config=EvalConfig(divergence="rjsd", n_resamples=100, seed=0),
        id=SplitResult("demo_id", 36, emi_result(0.2), interval(0.15, 0.25)), scenarios=scen,
        study={"correlation_resamples": 50, "source": "study.yaml"},
        environment={"versions": {"mllmshift": "0.1.0", "numpy": np.__version__}},
        encoders={"text": {"config": {"name": "use-multilingual"}}, "image": {"config": {"name": "efficientnet-lite0"}},
                  "fusion": "auto"},
        estimator={"source": "trained", "config": {"name": "club", "val_fraction": 0.2}, "n_pairs": 648,
                   "trained_on": ["a"] * 9, "history": {"best_epoch": 12}},
        data={"id": {"name": "demo_id", "n": 36}, "groups": {"visual": 5, "text": 2, "joint": 1},
              "notes": ["A caveat the reader must see."],
              "responder": {"label": "the built-in baseline responder (test)", "baseline": True, "config": {}}},
        run={"wall_s": 1.0})
    return result.with_(correlations={"emid_vs_bound": correlations_by_group(result.rows(), "emid", "bound",
                                                                             n_resamples=50)})


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    results = fake_results()
    files = write_report(results, out)
    return results, out, files


def test_markdown_carries_numbers_and_explanations(report):
    results, out, _ = report
    md = (out / "report.md").read_text()
    assert "## What was measured" in md and "EMI" in md and "upper bound" in md
    assert "built-in baseline responder (test)" in md and "not from a multimodal LLM" in md
    assert "A caveat the reader must see." in md
    r = results.correlations["emid_vs_bound"]["all"]["pearson"]["r"]
    assert f"| all | Pearson | 7 | {r:.3f} |" in md
    assert "| frost_5 | visual | 36 | -0.100 | [-0.150, -0.050] | +0.300 |" in md
    assert "wild_hard *" in md  # partial scenarios are marked
    for name in ("emid_vs_bound", "emi_per_scenario", "severity_heatmap", "jsd_terms"):
        assert f"](plots/{name}.png)" in md


def test_html_is_self_contained(report):
    _, out, files = report
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "<table>" in html and "frost_5_keyboard_2" in html
    assert set(files) == {"report.md", "report.html", "plots/emid_vs_bound.png", "plots/emi_per_scenario.png",
                          "plots/severity_heatmap.png", "plots/jsd_terms.png"}


def test_saturated_emis_and_the_estimator_are_stated(tmp_path):
    from mllmshift.report.document import to_markdown
    from mllmshift.report.study_report import build_document

    results = fake_results()
    plain = to_markdown(build_document(results, {}), tmp_path)
    assert "ceiling" not in plain and "best epoch 12" in plain  # CLUB: nothing saturates, epochs are named
    cap = float(np.log(36))
    scen = list(results.scenarios)
    # at the ceiling: the ID split and frost_5; defocus_blur_1 has a ceiling but stays below it
    scen[1] = replace(scen[1], shifted=replace(scen[1].shifted, emi=emi_result(-0.10, ceiling=cap, mi_reference=cap)))
    scen[2] = replace(scen[2], shifted=replace(scen[2].shifted, emi=emi_result(0.12, ceiling=cap)))
    results = results.with_(
        estimator={"source": "trained", "config": {"name": "infonce", "val_fraction": 0.2}, "n_pairs": 648,
                   "trained_on": ["a"] * 9, "history": {"best_step": 350}},
        config=results.config.with_(divergence="auto", n_estimators=1), scenarios=tuple(scen),
        id=replace(results.id, emi=emi_result(0.2, ceiling=cap, mi_reference=cap - 0.2)))
    md = to_markdown(build_document(results, {}), tmp_path)
    assert "MI estimator: `infonce`" in md and "best step 350" in md
    assert "2 EMI value(s) have an MI estimate at the estimator's ceiling (3.584 nats" in md
    assert "`demo_id`, `frost_5`." in md and "`defocus_blur_1`" not in md.split("ceiling")[1].split("\n")[0]
    assert "classifier JSD from there on" in md  # what `auto` means


def test_unstable_emid_signs_are_flagged():
    """frost_1's EMID interval [0.0, 0.1] and keyboard_1's [−0.03, 0.07] do not exclude 0: the report marks them."""
    results = fake_results()
    assert results.scenario("frost_1").sign_stable is False and results.scenario("frost_5").sign_stable is True
    assert results.summary["sign_unstable"] == ["frost_1", "keyboard_1"]
    md = to_markdown(build_document_for(results), Path("."))
    assert "| frost_1 | visual | 36 | +0.150 | [+0.100, +0.200] | +0.050 | [+0.000, +0.100] | † |" in md
    assert "| frost_5 | visual | 36 | -0.100 | [-0.150, -0.050] | +0.300 | [+0.250, +0.350] |  |" in md
    assert "2 of 7 scenarios have an EMID whose sign is not stable" in md


def build_document_for(results):
    from mllmshift.report.study_report import build_document

    return build_document(results, {})


def test_severity_table_and_bound_contributions():
    rows = fake_results().rows()
    kinds, levels, table = severity_table(rows)
    assert kinds == ["defocus_blur", "frost", "keyboard"] and levels == [1, 2, 5]
    assert table[kinds.index("frost"), levels.index(5)] == pytest.approx(0.3)
    assert np.isnan(table[kinds.index("frost"), levels.index(2)])
    row = rows[1]
    c = bound_contributions(row, None)
    assert sum(c) == pytest.approx(row["bound"])
    assert bound_contributions(row, 2.0) == pytest.approx([2 * c[0], 2 * c[1], 4 * c[2], 4 * c[3]])


def test_document_renders_escaped():
    doc = Document("T <x>", [Heading("a|b"), Table(("h",), (("<b>|",),))])
    assert "T &lt;x&gt;" in to_html(doc) and "&lt;b&gt;|" in to_html(doc)
    assert "\\|" in to_markdown(doc, Path("."))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image

    _, out, _ = report
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'p'}",
           "--window-size=1200,2400", f"--screenshot={shot}", (out / "report.html").resolve().as_uri()]
    subprocess.run(cmd, check=True, timeout=90, capture_output=True)
    with Image.open(shot) as im:
        a = np.asarray(im.convert("RGB")).astype(int)
    assert a.shape[0] >= 2000 and a.shape[1] >= 1000
    non_white = (a.sum(axis=2) < 720).mean()
    assert non_white > 0.05, f"screenshot is nearly blank ({non_white:.1%} non-white pixels)"
    # the blue heading rule and the coloured plot marks are there: more than a handful of colours
    assert len(np.unique(a.reshape(-1, 3)[::37], axis=0)) > 50
