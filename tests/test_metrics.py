"""EMI, EMID, the bound and bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.divergence.rjsd import rjsd
from mllmshift.estimators.fitting import fit_estimator, pooled_pairs
from mllmshift.estimators.mi.club import CLUB
from mllmshift.metrics import (
    bootstrap_emi,
    bootstrap_emid,
    emi,
    emi_of,
    emid,
    emid_upper_bound,
    resample_weights,
)


def _split(rng, n=200, d=4, noise=0.3, name="s", shift=0.0, visual=True, signal=1.0):
    """Pairs with response = signal · x + noise: ``signal`` < 1 makes responses less input-dependent."""
    xv = rng.normal(size=(n, d)) + shift
    xt = rng.normal(size=(n, d))
    x = (xv + xt) / 2
    ref = x + noise * rng.normal(size=(n, d))
    resp = signal * x + noise * rng.normal(size=(n, d))
    return EmbeddedSplit.from_arrays(name, x_text=xt, x_visual=xv if visual else None, response=resp,
                                     reference=ref, fusion="mean" if visual else "text")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(1)
    a, b = _split(rng, name="id"), _split(rng, name="ood", signal=0.3)
    est = fit_estimator([a, b], "club", seed=0, hidden_size=32, max_epochs=40, lr=3e-3)
    return a, b, est


def test_emi_is_exactly_zero_when_responses_equal_references(fitted):
    a, _, est = fitted
    r = emi(a.x, a.reference, a.reference, est)
    assert r.value == 0.0 and r.mi_response == r.mi_reference


def test_emi_negative_when_responses_are_shuffled(fitted):
    a, _, est = fitted
    shuffled = a.reference[np.random.default_rng(0).permutation(len(a))]
    r = emi(a.x, shuffled, a.reference, est)
    assert r.mi_reference > 0.3
    assert r.value < -0.3
    assert r.value == pytest.approx(r.mi_response - r.mi_reference)


def test_emid_is_difference_of_emis(fitted):
    a, b, est = fitted
    d = emid(a, b, est)
    assert d.value == pytest.approx(d.emi_id.value - d.emi_ood.value)
    assert d.emi_id.n == len(a)
    # same references, responses that follow the input less under shift → positive EMID
    # (CLUB with a variance fitted on x alone measures Cov(y, μ(x)), so attenuation, not added noise, is what it sees)
    assert d.value > 0
    assert emid(a, a, est).value == 0.0


def test_bound_terms_and_forms(fitted):
    a, b, _ = fitted
    sa = emid_upper_bound(a, b, divergence="rjsd")  # the paper's plug-in estimator, written out below
    assert sa.form == "scale-adjusted" and sa.entropy_scale is None
    assert sa.jsd_visual == pytest.approx(rjsd(a.x_visual, b.x_visual))
    assert sa.jsd_text == pytest.approx(rjsd(a.x_text, b.x_text))
    assert sa.jsd_id_output == pytest.approx(rjsd(a.response, a.reference))
    assert sa.jsd_ood_output == pytest.approx(rjsd(b.response, b.reference))
    expected = (math.sqrt(sa.jsd_visual) + math.sqrt(sa.jsd_text) + sa.jsd_id_output ** 0.25
                + sa.jsd_ood_output ** 0.25)
    assert sa.value == pytest.approx(expected)
    th = emid_upper_bound(a, b, entropy_scale=2.5, divergence="rjsd")
    assert th.form == "theorem"
    assert th.value == pytest.approx(2.5 * (math.sqrt(sa.jsd_visual) + math.sqrt(sa.jsd_text))
                                     + 4 * (sa.jsd_id_output ** 0.25 + sa.jsd_ood_output ** 0.25))


def test_bound_per_term_divergences(fitted):
    a, b, _ = fitted
    from mllmshift.estimators.divergence.debiased_rjsd import DebiasedRJSD

    res = emid_upper_bound(a, b, divergence={"visual": lambda p, q: 0.25})
    assert res.jsd_visual == 0.25
    # a term not named uses the default, the shuffle-corrected RJSD
    assert res.jsd_text == pytest.approx(max(DebiasedRJSD(seed=0).divergence(a.x_text, b.x_text), 0.0))
    with pytest.raises(ValueError, match="unknown bound terms"):
        emid_upper_bound(a, b, divergence={"vision": lambda p, q: 0.0})


def test_bound_grows_with_input_shift():
    rng = np.random.default_rng(3)
    base = _split(rng, name="id")
    values = [emid_upper_bound(base, _split(rng, shift=s, name=f"s{s}")).jsd_visual for s in (0.0, 1.0, 3.0)]
    assert values[0] < values[1] < values[2]


def test_text_only_and_missing_references():
    rng = np.random.default_rng(4)
    a, b = _split(rng, visual=False), _split(rng, visual=False)
    res = emid_upper_bound(a, b)
    assert res.jsd_visual is None and res.value is not None
    no_ref = EmbeddedSplit.from_arrays("wild", x_text=b.x_text, response=b.response, reference=None)
    res2 = emid_upper_bound(a, no_ref)
    assert res2.jsd_ood_output is None and res2.value is None and res2.jsd_text >= 0
    est = CLUB(4, 4, hidden_size=8)
    with pytest.raises(ValueError, match="no references"):
        emid(a, no_ref, est)


def test_resample_weights_are_multinomial():
    w = resample_weights(10, 500, np.random.default_rng(0))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    counts = w * 10
    np.testing.assert_allclose(counts, np.rint(counts))
    assert abs(counts.mean() - 1.0) < 1e-12 and 0.8 < counts.var() < 1.1  # Binomial(10, 0.1): var 0.9


def test_bootstrap_matches_generic_loop(fitted):
    """The CLUB fast path gives the same draws as the contract's default: re-estimating on each resample."""
    from mllmshift.estimators.base import MIEstimator

    a, _, est = fitted

    class Plain(MIEstimator):
        """Only the abstract methods: ``mi`` delegates to the fitted CLUB, ``mi_weighted`` is the default loop."""

        name = "plain"

        def __init__(self, x_dim=None, y_dim=None, *, seed=0):
            pass

        dims = property(lambda self: (None, None))
        fit = config = save = load = None  # type: ignore[assignment]

        def mi(self, x, y):
            return est.mi(x, y)

    fast = bootstrap_emi(a.x, a.response, a.reference, est, n_resamples=30, seed=5)
    slow = bootstrap_emi(a.x, a.response, a.reference, Plain(), n_resamples=30, seed=5)
    assert fast.low == pytest.approx(slow.low, rel=1e-6) and fast.high == pytest.approx(slow.high, rel=1e-6)
    assert fast.n_resamples == 30 and fast.seed == 5


def test_bootstrap_interval_contains_estimate_and_is_seeded(fitted):
    a, b, est = fitted
    point = emid(a, b, est).value
    ci = bootstrap_emid(a, b, est, n_resamples=300, seed=1)
    assert ci.low < point < ci.high
    assert ci == bootstrap_emid(a, b, est, n_resamples=300, seed=1)
    assert ci != bootstrap_emid(a, b, est, n_resamples=300, seed=2)
    wide = bootstrap_emid(a, b, est, n_resamples=300, seed=1, confidence=0.99)
    assert wide.low <= ci.low and wide.high >= ci.high


def test_pooled_pairs_stacks_responses_and_references(fitted):
    a, b, _ = fitted
    x, y = pooled_pairs([a, b])
    assert x.shape == (4 * len(a), 4) and y.shape == x.shape
    np.testing.assert_allclose(y[: len(a)], a.response.astype(np.float32))
    np.testing.assert_allclose(y[len(a) : 2 * len(a)], a.reference.astype(np.float32))


@pytest.mark.usefixtures("one_thread")  # the debiased RJSD's and the classifier's products on one thread
def test_default_bound_divergence_is_rjsd_debiased_at_every_size():
    """Default ``rjsd-debiased`` for every term at every n (the former default ``auto`` switched estimators at
    1,000 points; it still runs when named)."""
    from mllmshift.estimators.defaults import AutoJSD
    from mllmshift.estimators.divergence.debiased_rjsd import DebiasedRJSD

    rng = np.random.default_rng(6)
    a, b = _split(rng, n=200), _split(rng, n=200, shift=1.0)
    default = emid_upper_bound(a, b)
    corrected = DebiasedRJSD(seed=0)
    assert default.jsd_visual == pytest.approx(max(corrected.divergence(a.x_visual, b.x_visual), 0.0), abs=1e-12)
    assert dict(default.estimators or {}) == {t: "rjsd-debiased" for t in ("visual", "text", "id_output",
                                                                            "ood_output")}
    assert emid_upper_bound(a, b, divergence="rjsd-debiased").value == pytest.approx(default.value, rel=1e-12)
    # the correction removes the plug-in's finite-sample part, so it is below the plug-in RJSD
    assert default.jsd_visual < rjsd(a.x_visual, b.x_visual)
    low = emid_upper_bound(a, b, divergence=AutoJSD(threshold=150))  # 200 points ≥ 150: the classifier
    assert set((low.estimators or {}).values()) == {"classifier-jsd"}
    with pytest.raises(TypeError, match="a divergence must be"):
        emid_upper_bound(a, b, divergence=3.0)  # type: ignore[arg-type]


def test_id_output_term_is_reused_not_recomputed():
    """JSD(P_Ŷ‖P_Y) depends on the ID split only: passing it on gives the same bound without computing it again."""
    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.evaluation.pipeline import ScenarioContext, evaluate_scenario, evaluate_split
    from mllmshift.evaluation.scenarios import scenario_of
    from mllmshift.metrics import id_output_term
    from mllmshift.records import Split

    rng = np.random.default_rng(8)
    ids, oods = _split(rng, name="id"), [_split(rng, shift=s, name=f"s{s}") for s in (0.5, 1.0, 2.0)]
    calls: list[int] = []

    def counting(a, b):
        from mllmshift.estimators.divergence.rjsd import rjsd

        calls.append(len(a))
        return rjsd(a, b)

    first = emid_upper_bound(ids, oods[0], divergence=counting)
    assert len(calls) == 4
    again = emid_upper_bound(ids, oods[1], divergence=counting, id_output=id_output_term(first))
    assert len(calls) == 7  # visual, text and the shifted output term only
    assert again == emid_upper_bound(ids, oods[1], divergence=counting)
    assert id_output_term(first)[:2] == (first.jsd_id_output, "counting")

    # the pipeline computes the ID output term once and every scenario's bound equals the bound alone
    est = CLUB(4, 4, hidden_size=8)
    cfg = EvalConfig(text_encoder="hashing-bow", divergence="rjsd", n_resamples=0)
    ctx = ScenarioContext(ids, evaluate_split(ids, [est], cfg), [est], cfg)
    for ood in oods:
        rep = evaluate_scenario(scenario_of(Split(ood.name, ())), ood, ctx)
        alone = emid_upper_bound(ids, ood, divergence="rjsd")
        assert rep.bound == alone
        assert rep.emid == pytest.approx(emid(ids, ood, est).value, abs=1e-12)


@pytest.fixture(scope="module")
def other(fitted):
    """A second member: the same pairs, another seed."""
    a, b, _ = fitted
    return fit_estimator([a, b], "club", seed=1, hidden_size=32, max_epochs=40, lr=3e-3)


def test_ensemble_emi_is_the_mean_of_its_members_and_keeps_each(fitted, other):
    a, b, est = fitted
    one, two = emi_of(a, est), emi_of(a, other)
    both = emi_of(a, [est, other])
    assert both.members == (one.value, two.value)
    assert both.mi_response == pytest.approx((one.mi_response + two.mi_response) / 2, rel=1e-12)
    assert both.value == pytest.approx((one.value + two.value) / 2, rel=1e-12)
    d = emid(a, b, [est, other])
    assert d.members == pytest.approx((emid(a, b, est).value, emid(a, b, other).value), rel=1e-12)
    assert d.value == pytest.approx(both.value - emi_of(b, [est, other]).value, rel=1e-12)
    assert emi_of(a, est).members == (one.value,)


def test_ensemble_bootstrap_uses_member_r_mod_k_for_replicate_r(fitted, other):
    """An independent loop: the same resamples, replicate r re-estimated with member r mod K."""
    a, b, est = fitted
    members = [est, other]
    got = bootstrap_emi(a.x, a.response, a.reference, members, n_resamples=9, seed=4, confidence=0.8)
    w = resample_weights(len(a), 9, np.random.default_rng(4))
    draws = []
    for r in range(9):
        m = members[r % 2]
        idx = np.repeat(np.arange(len(a)), np.rint(w[r] * len(a)).astype(np.int64))
        draws.append(m.mi(a.x[idx], a.response[idx]) - m.mi(a.x[idx], a.reference[idx]))
    lo, hi = np.quantile(draws, [0.1, 0.9])
    assert got.low == pytest.approx(lo, rel=1e-6) and got.high == pytest.approx(hi, rel=1e-6)
    # a single-member ensemble is the plain bootstrap, bit for bit
    assert bootstrap_emi(a.x, a.response, a.reference, [est], 20, 3) == bootstrap_emi(a.x, a.response,
                                                                                       a.reference, est, 20, 3)


def test_pointwise_emi_averages_to_the_two_mis(fitted):
    from mllmshift.metrics import pointwise_emi

    a, _, est = fitted
    resp, ref = pointwise_emi(a.x, a.response, a.reference, est)
    r = emi_of(a, est)
    assert resp.mean() == pytest.approx(r.mi_response, rel=1e-5) and ref.mean() == pytest.approx(r.mi_reference,
                                                                                                  rel=1e-5)
    from mllmshift.estimators.mi.ksg import KSG

    assert pointwise_emi(a.x, a.response, a.reference, KSG()) is None  # no pointwise form
