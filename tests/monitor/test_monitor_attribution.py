"""Attribution: the term furthest out in its null spread, and the records that moved it (against loops)."""

from __future__ import annotations

import math

import numpy as np
from test_monitor_terms import gaussian_rows

from mllmshift.encoders.base import l2_normalise
from mllmshift.monitor.attribution import moved_most, sample_scores, top_samples


def unit_rows(n, rng, prefix, labelled=None):
    rows = gaussian_rows(n, rng, prefix=prefix, labelled=labelled)
    return rows.__class__(rows.ids, l2_normalise(rows.x_text), l2_normalise(rows.response),
                          l2_normalise(rows.reference), rows.labelled, l2_normalise(rows.x_visual), rows.fusion,
                          rows.sources)


def test_moved_most_is_the_largest_finite_z():
    assert moved_most({"text": 2.0, "answer": 5.0, "emid": None, "visual": math.nan}) == "answer"
    assert moved_most({"text": None}) is None


def test_drift_scores_are_distances_to_the_nearest_reference_record():
    rng = np.random.default_rng(0)
    ref, win = unit_rows(50, rng, "r"), unit_rows(12, rng, "w")
    got = sample_scores("text", ref, win, chunk=7)  # chunked on purpose
    want = [1.0 - max(float(np.dot(w, r)) for r in ref.x_text) for w in win.x_text]
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.allclose(sample_scores("visual", ref, win), [1.0 - max(float(np.dot(w, r)) for r in ref.x_visual)
                                                           for w in win.x_visual], atol=1e-6)


def test_answer_loss_scores_compare_each_answer_with_its_reference():
    rng = np.random.default_rng(1)
    lab = np.array([True, False] * 5)
    win = unit_rows(10, rng, "w", labelled=lab)
    got = sample_scores("emid", win, win)
    for i in range(10):
        if lab[i]:
            assert math.isclose(got[i], 1.0 - float(np.dot(win.response[i], win.reference[i])), abs_tol=1e-6)
        else:
            assert math.isnan(got[i])


def test_top_samples_name_the_farthest_records_with_their_source():
    rng = np.random.default_rng(2)
    ref, win = unit_rows(40, rng, "r"), unit_rows(10, rng, "w")
    far = win.x_text.copy()
    far[3] = -ref.x_text.mean(axis=0) / np.linalg.norm(ref.x_text.mean(axis=0))  # opposite to the reference
    win = win.__class__(win.ids, far, win.response, win.reference, win.labelled, win.x_visual, win.fusion,
                        win.sources)
    top = top_samples("text", ref, win, 3)
    scores = sample_scores("text", ref, win)
    assert top[0]["id"] == "w3" and top[0]["source"] == "file:4"
    assert [t["score"] for t in top] == sorted(scores, reverse=True)[:3]
    lab = np.zeros(10, bool)
    lab[:2] = True
    partly = unit_rows(10, rng, "w", labelled=lab)
    assert len(top_samples("output_shift", ref, partly, 5)) == 2  # only records with a reference answer
