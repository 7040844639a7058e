"""Results in Python: to_pandas() on every result type agrees with to_row()/rows(), a repr of a few lines that
carries the headline, a notebook view (a small HTML table + the headline), and a typo in evaluate()/emi()
keywords names the valid ones."""

from __future__ import annotations

import math
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import mllmshift

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_api import COLUMNS, FAST, rows  # noqa: E402


@pytest.fixture(scope="module")
def study():
    return mllmshift.evaluate(id=rows(40, 0, 0.0), ood={f"drift{i}": rows(40, i, 0.3 * i) for i in range(1, 9)},
                              columns=COLUMNS, **{**FAST, "n_resamples": 20})


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return (a is None and math.isnan(b)) or (b is None and math.isnan(a)) or a == pytest.approx(b, abs=1e-12)
    return a == b or (a is None and b != b)


def test_to_pandas_of_every_type_is_its_rows(study):
    df = study.to_pandas()
    assert list(df["scenario"]) == [s.name for s in study.scenarios]
    for (_, got), want in zip(df.iterrows(), study.rows()):
        assert all(_same(want[k], got[k]) for k in want), want
    one = study.scenarios[0].to_pandas()
    assert len(one) == 1 and one.loc[0, "emid"] == pytest.approx(study.scenarios[0].emid)
    split = study.id.to_pandas()
    assert len(split) == 1 and split.loc[0, "emi"] == pytest.approx(study.id.value)


def test_the_repr_is_a_few_lines_with_the_headline(study):
    text = repr(study)
    lines = text.splitlines()
    assert len(lines) <= 8 and len(text) < 1000
    assert f"EMI {study.id.value:+.4f}" in lines[0] and f"{len(study.scenarios)} scenario(s)" in lines[0]
    assert lines[-1].strip().startswith("... and 2 more")  # 8 scenarios, 6 shown
    s = study.scenarios[0]
    assert repr(s).count("\n") == 0 and f"EMID {s.emid:+.4f} [{s.emid_ci.low:+.3f}, {s.emid_ci.high:+.3f}]" in repr(s)
    assert repr(study.id) == f"<SplitResult: EMI(id) = {study.id.value:+.4f} [{study.id.ci.low:+.3f}, " \
                             f"{study.id.ci.high:+.3f}] nats, n = 40>"


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])

    def handle_data(self, data):
        if self.tags and self.tags[-1] in ("td", "th"):
            self.rows[-1].append(data)

    def handle_endtag(self, tag):
        self.tags.pop()


def test_the_notebook_view_is_a_table_and_the_headline(study):
    page = study._repr_html_()
    parser = _Cells()
    parser.feed(page)
    assert parser.tags == []  # every tag closed
    header, *body = parser.rows
    assert header[:2] == ["scenario", "group"] and "emid" in header and "bound" in header
    assert len(body) == len(study.scenarios)
    col = header.index("emid")
    assert [float(r[col]) for r in body] == pytest.approx([s.emid for s in study.scenarios], abs=5e-5)
    assert f"EMI {study.id.value:+.4f}" in page


def test_html_escapes_names():
    res = mllmshift.evaluate(id=rows(30, 0, 0.0), ood={"<b>x</b>": rows(30, 1, 0.5)}, columns=COLUMNS,
                             **{**FAST, "n_resamples": 10})
    assert "<b>x</b>" not in res._repr_html_() and "&lt;b&gt;x&lt;/b&gt;" in res._repr_html_()


@pytest.mark.parametrize("call, typo, hint", [
    (lambda **k: mllmshift.evaluate(id=rows(20, 0, 0), ood=rows(20, 1, 0), **k), "n_resample", "n_resamples"),
    (lambda **k: mllmshift.emi(rows(20, 0, 0), **k), "colums", "columns"),
    (lambda **k: mllmshift.emi(rows(20, 0, 0), **k), "text_encodr", "text_encoder"),
])
def test_a_typo_names_the_closest_and_lists_the_valid_keywords(call, typo, hint):
    with pytest.raises(TypeError) as err:
        call(**{typo: 1})
    msg = str(err.value)
    assert f"'{typo}' (did you mean '{hint}'?)" in msg
    assert "valid keywords:" in msg and "seed" in msg and "log_samples" in msg
