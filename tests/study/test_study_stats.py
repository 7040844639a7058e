"""Across-scenario statistics against scipy and against naive closed-form implementations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from mllmshift.study.stats import correlate, correlate_all, correlations_by_group, group_of

X = [0.12, 0.40, 0.33, 0.91, 0.57, 0.05, 0.77, 0.64, 0.29, 0.48]
Y = [0.30, 0.52, 0.35, 0.88, 0.41, 0.10, 0.95, 0.60, 0.33, 0.39]


def naive_pearson(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / math.sqrt((dx**2).sum() * (dy**2).sum()))


def ranks(v):
    v = np.asarray(v, float)
    order = np.argsort(v)
    r = np.empty(len(v))
    r[order] = np.arange(1, len(v) + 1)
    return r  # no ties in the fixtures


def naive_kendall(x, y):
    conc = disc = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        s = np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
        conc += s > 0
        disc += s < 0
    return (conc - disc) / (len(x) * (len(x) - 1) / 2)


def test_coefficients_match_naive_formulas_and_scipy():
    c = correlate_all(X, Y, n_resamples=0)
    assert c["pearson"].r == pytest.approx(naive_pearson(X, Y), abs=1e-12)
    assert c["spearman"].r == pytest.approx(naive_pearson(ranks(X), ranks(Y)), abs=1e-12)
    assert c["kendall"].r == pytest.approx(naive_kendall(X, Y), abs=1e-12)
    assert c["pearson"].p_value == pytest.approx(sps.pearsonr(X, Y).pvalue, rel=1e-12)
    assert c["spearman"].p_value == pytest.approx(sps.spearmanr(X, Y).pvalue, rel=1e-12)
    assert c["kendall"].p_value == pytest.approx(sps.kendalltau(X, Y).pvalue, rel=1e-12)


def test_pearson_p_value_matches_t_distribution():
    r = naive_pearson(X, Y)
    n = len(X)
    t = r * math.sqrt((n - 2) / (1 - r * r))
    p = 2 * sps.t.sf(abs(t), n - 2)
    assert correlate(X, Y, "pearson", n_resamples=0).p_value == pytest.approx(p, rel=1e-9)


def test_missing_values_dropped_pairwise():
    x = [*X, None, 1.0]
    y = [*Y, 2.0, float("nan")]
    assert correlate(x, y, n_resamples=0).r == pytest.approx(naive_pearson(X, Y))
    assert correlate(x, y, n_resamples=0).n == len(X)


def test_degenerate_inputs_give_nan_not_errors():
    assert math.isnan(correlate([1, 2], [3, 4], n_resamples=10).r)
    c = correlate([1, 1, 1, 1], [1, 2, 3, 4], n_resamples=10)
    assert math.isnan(c.r) and c.to_dict()["r"] is None and c.n_resamples_used == 0


def test_bootstrap_ci_is_seeded_and_brackets_estimate():
    a = correlate(X, Y, "spearman", n_resamples=300, seed=3)
    b = correlate(X, Y, "spearman", n_resamples=300, seed=3)
    assert a == b
    assert a.ci_low <= a.r <= a.ci_high
    assert 0 < a.n_resamples_used <= 300


def test_bootstrap_ci_matches_naive_percentile_bootstrap():
    rng = np.random.default_rng(7)
    idx = rng.integers(0, len(X), size=(200, len(X)))
    xa, ya = np.array(X), np.array(Y)
    boots = [naive_pearson(xa[i], ya[i]) for i in idx if np.ptp(xa[i]) > 0 and np.ptp(ya[i]) > 0]
    lo, hi = np.quantile(boots, [0.05, 0.95])
    c = correlate(X, Y, "pearson", n_resamples=200, seed=7, confidence=0.9)
    assert (c.ci_low, c.ci_high) == pytest.approx((lo, hi), abs=1e-12)


def test_bootstrap_ci_covers_true_correlation_at_nominal_rate():
    # bivariate normal with rho = 0.6; the percentile bootstrap of Pearson's r on n=40 is close to nominal
    rho, n, reps = 0.6, 40, 150
    rng = np.random.default_rng(0)
    cov = [[1, rho], [rho, 1]]
    hits = 0
    for k in range(reps):
        xy = rng.multivariate_normal([0, 0], cov, size=n)
        c = correlate(xy[:, 0], xy[:, 1], "pearson", n_resamples=200, seed=k, confidence=0.9)
        hits += c.ci_low <= rho <= c.ci_high
    assert 0.80 <= hits / reps <= 0.97


def test_by_group_selects_rows():
    rows = [{"group": g, "a": float(i), "b": float(i) ** 2 * (1 if g != "text" else -1)}
            for i, g in enumerate(["visual", "text", "joint"] * 4)]
    out = correlations_by_group(rows, "a", "b", n_resamples=50)
    assert set(out) == {"all", "visual", "text", "joint"}
    assert out["visual"]["n"] == 4 and out["all"]["n"] == 12
    assert out["visual"]["spearman"]["r"] == pytest.approx(1.0)
    assert out["text"]["spearman"]["r"] == pytest.approx(-1.0)


@pytest.mark.parametrize("scenario, group", [
    ("llava_bench_coco_frost_3", "visual"),
    ("llava_bench_coco_defocus_blur_1", "visual"),
    ("llava_bench_coco_sr_4", "text"),
    ("llava_bench_coco_KeyboardAug_1", "text"),
    ("llava_bench_coco_frost_5_KeyboardAug_3", "joint"),
    ("llava_bench_coco_German", "text"),
    ("llava_bench_in_the_wild_English_hard", "visual"),
    ("llava_bench_in_the_wild_Korean_easy", "joint"),
    ({"name": "x", "visual": "frost@3", "text": None}, "visual"),
    ({"name": "x", "visual": None, "text": "keyboard@1"}, "text"),
    ({"name": "x", "visual": "frost@3", "text": "keyboard@1"}, "joint"),
    ({"name": "frost_3", "group": "text"}, "text"),
])
def test_group_of(scenario, group):
    assert group_of(scenario) == group


def test_group_of_unknown_name_raises():
    with pytest.raises(ValueError, match="give the scenario a 'group'"):
        group_of("mystery_split")




def test_resampled_kendall_equals_scipy_row_by_row_with_ties_and_constant_rows():
    # bootstrap rows repeat scenarios (ties in x, in y and in both) and may be constant: τ-b, as scipy gives it
    from mllmshift.study.stats import _bootstrap_coefficients

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=25), rng.normal(size=25)
    y[:5] = y[5]  # ties in y outside the resampling too
    idx = rng.integers(0, 25, size=(150, 25))
    idx[7] = 4  # a constant row
    got = _bootstrap_coefficients("kendall", x[idx], y[idx])
    want = np.array([sps.kendalltau(x[i], y[i]).statistic for i in idx])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.isnan(got[7])
