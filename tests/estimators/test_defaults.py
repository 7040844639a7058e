"""The default estimators: AutoJSD's size switch, loading any saved estimator, InfoNCE's ceiling and bootstrap."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mllmshift.errors import DataError
from mllmshift.estimators import (
    DEFAULT_DIVERGENCE,
    DEFAULT_MI_ESTIMATOR,
    LARGE_SAMPLE_JSD,
    divergence_estimators,
    load_mi_estimator,
    mi_estimators,
)
from mllmshift.estimators.defaults import AutoJSD, build_divergence
from mllmshift.estimators.divergence.classifier import ClassifierJSD
from mllmshift.estimators.divergence.rjsd import rjsd
from mllmshift.estimators.mi.infonce import InfoNCE
from mllmshift.metrics import EMIResult, _emi_draws, bootstrap_emi, emi, resample_weights
from mllmshift.resampling import MatrixWeights, multinomial_counts


def _shifted(n: int, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.standard_normal((m, 3)) + np.array([1.5, 0.0, 0.0])


def test_defaults_are_registered_names():
    assert DEFAULT_MI_ESTIMATOR in mi_estimators and DEFAULT_DIVERGENCE in divergence_estimators
    assert isinstance(divergence_estimators.create("auto"), AutoJSD)


def test_auto_uses_rjsd_below_the_threshold_and_the_classifier_from_it():
    a, b = _shifted(120, 80)
    small = AutoJSD(threshold=100, seed=3)
    # the smaller sample (80) is below 100: linear RJSD, bit for bit
    assert small.divergence(a, b) == rjsd(a, b) and small.last_choice == "rjsd"
    large = AutoJSD(threshold=80, seed=3)
    # both samples have at least 80 points: the classifier JSD with the same seed, bit for bit
    assert large.divergence(a, b) == ClassifierJSD(seed=3).divergence(a, b)
    assert large.last_choice == "classifier-jsd"
    assert AutoJSD().choose(LARGE_SAMPLE_JSD - 1, 10**6) == "rjsd"
    assert AutoJSD().choose(LARGE_SAMPLE_JSD, LARGE_SAMPLE_JSD) == "classifier-jsd"
    assert AutoJSD(threshold=5, seed=2).config() == {"name": "auto", "threshold": 5, "seed": 2, "small": "rjsd",
                                                     "large": "classifier-jsd"}
    with pytest.raises(ValueError, match="cannot choose itself"):
        AutoJSD(large="auto")


def test_build_divergence_seeds_only_what_takes_a_seed():
    assert build_divergence("classifier-jsd", seed=7).config()["seed"] == 7
    assert build_divergence("rjsd", seed=7).name == "rjsd"  # deterministic: no seed argument


def _pairs(n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    return x, 0.8 * x + 0.6 * rng.standard_normal((n, 4))


@pytest.mark.parametrize("name, options", [
    ("club", {"hidden_size": 16, "max_epochs": 3}),
    ("club-sampled", {"hidden_size": 16, "max_epochs": 3}),
    ("infonce", {"hidden_size": 16, "max_steps": 50}),
    ("smile", {"hidden_size": 16, "max_steps": 50}),
    ("ksg", {}),
    ("gaussian", {}),
])
def test_load_mi_estimator_reads_every_kind_back(tmp_path: Path, name: str, options: dict):
    x, y = _pairs()
    est = mi_estimators.get(name)(x_dim=4, y_dim=4, seed=1, **options)  # type: ignore[call-arg]
    est.fit(x, y)
    path = tmp_path / f"{name}.ckpt"
    est.save(path)
    back = load_mi_estimator(path)
    assert type(back) is type(est) and back.name == name  # sampled CLUB does not come back as plain CLUB
    assert back.mi(x, y) == pytest.approx(est.mi(x, y), rel=1e-6, abs=1e-9)


def test_load_mi_estimator_errors_name_the_file(tmp_path: Path):
    with pytest.raises(DataError, match="not found"):
        load_mi_estimator(tmp_path / "missing.pt")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "no-such-estimator"}')
    with pytest.raises(DataError, match="bad.json.*unknown estimator name 'no-such-estimator'"):
        load_mi_estimator(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01 not a checkpoint")
    with pytest.raises(DataError, match="junk.pt.*not a readable torch checkpoint"):
        load_mi_estimator(junk)


@pytest.mark.shared
def test_load_mi_estimator_reads_the_authors_state_dict(shared_data):
    est = load_mi_estimator(shared_data / "checkpoints/club_llavabench_global.pt")
    assert est.name == "club" and est.cfg.x_dim == 768  # type: ignore[attr-defined]


def test_infonce_ceiling_is_log_of_candidates_and_never_exceeded():
    x, _ = _pairs(60)
    # y = x: the MI is infinite, and a well-trained critic drives InfoNCE up to (never past) ln 60
    est = InfoNCE(4, 4, hidden_size=64, max_steps=1000, lr=3e-3, patience=40, seed=0).fit(x, x)
    cap = math.log(60)
    assert est.ceiling(60) == pytest.approx(cap)
    value = est.mi(x, x)
    assert 0.95 * cap < value <= cap + 1e-9
    res = emi(x, x, x, est)
    assert res.ceiling == pytest.approx(cap) and res.to_dict()["saturated"] == (value >= 0.99 * cap)
    assert InfoNCE(4, 4, negatives=9).ceiling(60) == pytest.approx(math.log(10))


def test_saturation_flag_only_near_the_ceiling():
    assert not EMIResult(0.0, 1.0, 1.0, 50, None).saturated
    cap = math.log(50)
    assert not EMIResult(0.0, 0.95 * cap, 0.9 * cap, 50, cap).saturated
    assert EMIResult(0.0, 0.5, 0.995 * cap, 50, cap).saturated


def test_infonce_weighted_estimates_equal_reestimation_on_resamples():
    x, y = _pairs(90, seed=3)
    est = InfoNCE(4, 4, hidden_size=16, max_steps=100, seed=0, chunk_size=32).fit(x, y)  # chunks of 32 rows
    w = resample_weights(90, 6, np.random.default_rng(5))
    fast = est.mi_weighted(x, y, w)
    for b in range(6):
        idx = np.repeat(np.arange(90), np.rint(w[b] * 90).astype(np.int64))
        assert fast[b] == pytest.approx(est.mi(x[idx], y[idx]), abs=1e-5)
    uniform = np.full((1, 90), 1 / 90)
    assert est.mi_weighted(x, y, uniform)[0] == pytest.approx(est.mi(x, y), abs=1e-5)


def test_bootstrap_falls_back_to_reestimation_for_sampled_negatives():
    """With K random negatives InfoNCE has no exact weighted form: mi_weighted re-estimates each resample."""
    x, y = _pairs(40, seed=4)
    est = InfoNCE(4, 4, hidden_size=16, max_steps=50, seed=0, negatives=5).fit(x, y)
    w = resample_weights(40, 3, np.random.default_rng(9))
    got = est.mi_weighted(x, y, w)
    for b in range(3):
        idx = np.repeat(np.arange(40), np.rint(w[b] * 40).astype(np.int64))
        assert got[b] == est.mi(x[idx], y[idx])
    draws = _emi_draws(x, y, x, est, MatrixWeights(multinomial_counts(40, 4, np.random.default_rng(0))))
    rng = np.random.default_rng(0)
    w = resample_weights(40, 4, rng)
    for b in range(4):
        idx = np.repeat(np.arange(40), np.rint(w[b] * 40).astype(np.int64))
        assert draws[b] == pytest.approx(est.mi(x[idx], y[idx]) - est.mi(x[idx], x[idx]))
    ci = bootstrap_emi(x, y, x, est, n_resamples=20, seed=1)
    assert ci.low <= ci.high and ci.n_resamples == 20


def test_check_fits_compares_the_estimator_dims_with_the_split():
    from mllmshift.embeddings import EmbeddedSplit
    from mllmshift.errors import MllmshiftError
    from mllmshift.estimators.fitting import check_fits
    from mllmshift.estimators.mi.club import CLUB
    from mllmshift.estimators.mi.ksg import KSG

    x, y = _pairs(10)
    split = EmbeddedSplit.from_arrays("s", x_text=x, response=y, reference=y, fusion="text")
    check_fits(CLUB(4, 4, hidden_size=4), split, "here", "hint")  # fits: no error
    check_fits(KSG(), split, "here", "hint")  # no fixed dimensions: fits anything
    with pytest.raises(MllmshiftError, match="the estimator here takes 4-d inputs and 5-d answers but the "
                                             "embeddings are 4-d and 4-d; hint"):
        check_fits(CLUB(4, 5, hidden_size=4), split, "here", "hint")
