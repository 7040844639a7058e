"""The plots and the one-page view, from a handful of series rows."""

from __future__ import annotations

from PIL import Image

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
    assert (tmp_path / "plots" / "text.png").is_file() and not (tmp_path / "plots" / "emi.png").exists()
    assert html.count("<figure>") == 1 and 'src="plots/text.png"' in html
    assert "ref &amp; co" in html and "&lt;q7&gt; (0.81)" in html  # escaped
    assert '<meta http-equiv="refresh" content="30">' in html
    assert html.count("<tr><td>") == len(ROWS) + len(ALERTS)
    w, h = Image.open(tmp_path / "plots" / "text.png").size
    assert w > 400 and h > 200


def test_view_without_windows_says_so(tmp_path):
    html = render(tmp_path, [], [], ["text"], ["text"], {}, refresh_s=None).read_text()
    assert "no window has closed yet" in html and "refresh" not in html
