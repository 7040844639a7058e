"""Per-window terms on Gaussian embeddings: each equals the divergence computed directly on the samples
the definition names, intervals contain their estimates, and a seed fixes everything."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.defaults import build_divergence
from mllmshift.estimators.fitting import fit_estimator
from mllmshift.evaluation.config import EvalConfig
from mllmshift.monitor.config import MonitorConfig, WindowSpec
from mllmshift.monitor.embed import Rows
from mllmshift.monitor.terms import Reference, TermCalculator, split_reference, standard_interval

D = 6


def gaussian_rows(n: int, rng: np.random.Generator, *, shift: float = 0.0, prefix: str = "w", labelled=None,
                  visual: bool = True) -> Rows:
    """Questions, images (correlated with them), answers = a linear map of the input + noise, references likewise."""
    mix = np.linspace(0.5, 1.5, D)
    x_text = rng.normal(size=(n, D)) * mix + 1.0 + shift * np.resize([1.0, -1.0], D)  # the mean turns
    x_vis = 0.6 * x_text + rng.normal(size=(n, D)) if visual else None
    response = x_text[:, ::-1] * 0.8 + rng.normal(size=(n, D)) * (0.5 + shift)
    reference = x_text[:, ::-1] * 0.8 + rng.normal(size=(n, D)) * 0.5
    lab = np.ones(n, bool) if labelled is None else np.asarray(labelled, bool)
    f32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
    return Rows(tuple(f"{prefix}{i}" for i in range(n)), f32(x_text), f32(response), f32(reference), lab,
                f32(x_vis), "concat" if visual else "text", tuple(f"file:{i + 1}" for i in range(n)))


def make_calc(ref: Rows, cfg: MonitorConfig, mi: str | None = "gaussian") -> TermCalculator:
    labelled, fit, cal = split_reference(ref, 7)
    members = ()
    if mi is not None:
        half = ref.take(fit)
        members = (fit_estimator([EmbeddedSplit("fit", half.ids, half.x_text, half.x, half.response, half.reference,
                                                half.x_visual)], mi, seed=0),)
    return TermCalculator(Reference(ref, labelled, fit, cal, members), cfg, build_divergence("rjsd"))


def cfg(**kw) -> MonitorConfig:
    seed = kw.pop("seed", 0)
    return MonitorConfig(WindowSpec.parse("40"), EvalConfig(divergence="rjsd", n_resamples=40, seed=seed),
                         min_references=10, **kw)


def test_standard_interval_is_estimate_plus_minus_z_se():
    lo, hi = standard_interval(1.0, 0.1, 0.95)
    z = NormalDist().inv_cdf(0.975)
    assert lo == pytest.approx(1.0 - z * 0.1) and hi == pytest.approx(1.0 + z * 0.1) and z == pytest.approx(1.96, 1e-3)


def test_reference_halves_are_disjoint_and_cover_the_labelled_records():
    lab = np.zeros(50, bool)
    lab[::3] = True
    rows = gaussian_rows(50, np.random.default_rng(0), labelled=lab)
    labelled, fit, cal = split_reference(rows, 1)
    assert set(labelled) == set(np.flatnonzero(lab)) and not set(fit) & set(cal)
    assert sorted(set(fit) | set(cal)) == sorted(labelled) and len(fit) - len(cal) in (0, 1)
    assert np.array_equal(split_reference(rows, 1)[1], fit) and not np.array_equal(split_reference(rows, 2)[1], fit)


def test_terms_equal_the_divergences_of_the_samples_the_definition_names():
    rng = np.random.default_rng(0)
    ref = gaussian_rows(80, rng, prefix="r")
    calc = make_calc(ref, cfg())
    window = ref.take(np.arange(40))  # the window shares its ids with 40 reference records …
    stats = calc.window(window, seed=3)
    rest = ref.take(np.arange(40, 80))  # … so A, the n_R − n records of other ids, is exactly the rest
    rjsd = build_divergence("rjsd")
    assert stats.values["text"].value == pytest.approx(rjsd(rest.x_text, window.x_text), abs=1e-12)
    assert stats.values["visual"].value == pytest.approx(rjsd(rest.x_visual, window.x_visual), abs=1e-12)
    assert stats.values["answer"].value == pytest.approx(rjsd(rest.response, window.response), abs=1e-12)
    out_w = rjsd(window.response, window.reference) ** 0.25
    assert stats.values["output"].value == pytest.approx(out_w, abs=1e-12)
    out_r = rjsd(ref.response, ref.reference) ** 0.25
    bound = math.sqrt(stats.values["visual"].value) + math.sqrt(stats.values["text"].value) + out_r + out_w
    assert stats.values["bound"].value == pytest.approx(bound, abs=1e-12)
    assert "emid" not in stats.values  # a 20-record calibration half has no two disjoint 40-record samples
    for t, v in stats.values.items():
        assert v.low <= v.value <= v.high, t


def test_emid_is_a_same_size_contrast_with_the_calibration_half():
    rng = np.random.default_rng(1)
    ref = gaussian_rows(200, rng, prefix="r")
    calc = make_calc(ref, cfg())
    w = gaussian_rows(40, rng)
    stats = calc.window(w, seed=5)
    emi_w = calc.emi(w)
    assert stats.values["emi"].value == pytest.approx(emi_w)
    base = stats.values["emid"].value + emi_w  # EMI(B'): a 40-record sample of the calibration half
    cal = calc.ref.rows.take(calc.ref.calibration)
    draws = [calc.emi(cal.take(np.random.default_rng(s).choice(len(cal), 40, replace=False))) for s in range(40)]
    assert min(draws) - 1e-9 <= base <= max(draws) + 1e-9


def test_a_seed_fixes_every_number_and_another_seed_moves_the_intervals():
    rng = np.random.default_rng(2)
    ref, w = gaussian_rows(120, rng, prefix="r"), gaussian_rows(40, rng)
    calc = make_calc(ref, cfg())
    a, b, c = calc.window(w, 11), calc.window(w, 11), calc.window(w, 12)
    assert a.values == b.values
    assert a.values["text"].low != c.values["text"].low


def test_missing_terms_say_why():
    rng = np.random.default_rng(3)
    ref = gaussian_rows(60, rng, prefix="r")
    calc = make_calc(ref, cfg())
    stats = calc.window(gaussian_rows(40, rng), 0)  # 60 < 2·40
    assert "text" not in stats.values and any("at least 80 records" in n for n in stats.notes)
    lab = np.zeros(20, bool)
    lab[:5] = True
    stats = calc.window(gaussian_rows(20, rng, labelled=lab), 0)
    assert "text" in stats.values and "output" not in stats.values and "emi" not in stats.values
    assert any("at least 10 records with a reference answer, has 5" in n for n in stats.notes)
    stats = calc.window(gaussian_rows(25, rng), 0)  # labelled reference 60 ≥ 50, calibration half 30 < 50
    assert "output_shift" in stats.values and "emid" not in stats.values and "emi" in stats.values
    assert any("calibration half of at least 50" in n for n in stats.notes)


def test_text_only_reference_has_no_visual_term():
    rng = np.random.default_rng(4)
    calc = make_calc(gaussian_rows(100, rng, prefix="r", visual=False), cfg(), mi=None)
    stats = calc.window(gaussian_rows(30, rng, visual=False), 0)
    assert "visual" not in stats.values and "emi" not in stats.values and "text" in stats.values
    assert "visual" not in calc.terms and "emid" not in calc.terms
