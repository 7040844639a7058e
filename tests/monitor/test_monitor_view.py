"""The plots and the one-page view, from a handful of series rows."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mllmshift.monitor.view import render

ROWS = [{"window": i, "end": f"2025-01-01T0{i}:00:00Z", "n": 50, "skipped": i % 2,
         "text": 0.1 + 0.1 * i, "text_low": 0.05 + 0.1 * i, "text_high": 0.15 + 0.1 * i, "text_threshold": 0.3,
         "text_over": i >= 3, "emi": None, "alerts": "text" if i == 3 else None, "moved_most": "text"}
        for i in range(5)]
ALERTS = [{"window": 3, "end": "2025-01-01T03:00:00Z", "terms": {"text": {}}, "moved_most": "text",
           "top_samples": [{"id": "<q7>", "score": 0.81}]}]


def test_view_draws_a_plot_per_computed_term_and_lists_alerts_and_rows(tmp_path):
    page = render(tmp_path, ROWS, ALERTS, ["text", "emi"], ["text"], {"reference": "ref & co"}, refresh_s=30)
    html = page.read_text()
    assert (tmp_path / "plots" / "text.svg").is_file() and not (tmp_path / "plots" / "emi.svg").exists()
    assert html.count("<figure>") == 1 and "<figure><svg" in html  # inline: read without opening images
    assert "ref &amp; co" in html and "&lt;q7&gt; (0.81)" in html  # escaped
    assert '<meta http-equiv="refresh" content="30">' in html
    assert html.count("<tr><td>") == len(ROWS) + len(ALERTS)
    svg = ET.fromstring((tmp_path / "plots" / "text.svg").read_text())  # well-formed, standalone
    ns = "{http://www.w3.org/2000/svg}"
    tips = [t.text for t in svg.iter(f"{ns}title")]
    assert len(tips) == len(ROWS) and tips[3].startswith("window 3 2025-01-01T03:00:00Z: 0.4 [0.35, 0.45]")
    # points over the threshold are orange, the alert a red triangle, the others blue
    colours = [el.get("fill") for el in svg if el.tag in (f"{ns}circle", f"{ns}path")]
    assert colours == ["#4c72b0", "#4c72b0", "#4c72b0", "#c44e52", "#dd8452"]
    # y positions order as the values: a higher estimate is drawn higher (smaller y)
    ys = [float(el.get("cy")) for el in svg if el.tag == f"{ns}circle"]
    assert ys == sorted(ys, reverse=True)


def test_view_without_windows_says_so(tmp_path):
    html = render(tmp_path, [], [], ["text"], ["text"], {}, refresh_s=None).read_text()
    assert "no window has closed yet" in html and "refresh" not in html
