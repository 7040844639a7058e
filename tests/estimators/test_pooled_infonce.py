"""infonce-pooled: the bank formula against a naive loop, its identity with in-split InfoNCE when the bank is the
sample, invariance to whether the scored answers are in the bank, the ceiling, the exact bootstrap, I/O."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mllmshift.estimators import load_mi_estimator, mi_estimators
from mllmshift.estimators.mi.infonce import InfoNCE
from mllmshift.estimators.mi.pooled_infonce import PooledInfoNCE


def _est(seed: int = 0, **kw) -> PooledInfoNCE:
    return PooledInfoNCE(4, 3, hidden_size=16, embed_dim=8, seed=seed, **kw)


def _scores(est: PooledInfoNCE, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return est.critic.cross(est._tensor(x, est._x_moments), est._tensor(y, est._y_moments)).double().numpy()


def test_pointwise_equals_naive_formula(rng):
    est = _est()
    bank = rng.normal(size=(25, 3))
    est.set_bank(np.vstack([bank, bank[:5]]))  # duplicates are kept once
    assert est.bank_size == 25 and est.ceiling(7) == pytest.approx(math.log(26))
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 3))
    y[2] = bank[4]  # this answer is in the bank: left out of its own negatives
    pos = np.diag(_scores(est, x, y))
    neg = _scores(est, x, bank)
    want = []
    for i in range(9):
        keep = [j for j in range(25) if not (i == 2 and j == 4)]
        row = [pos[i], *neg[i, keep]]
        want.append(pos[i] - math.log(np.mean(np.exp(row))))
    assert est.pointwise(x, y) == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert est.mi(x, y) == pytest.approx(np.mean(want), rel=1e-5, abs=1e-6)


def test_bank_equal_to_the_sample_gives_in_split_infonce(rng):
    x = rng.normal(size=(60, 4))
    y = x[:, :3] + 0.5 * rng.normal(size=(60, 3))
    est = _est(max_steps=100).fit(x, y)
    assert est.bank_size == 60
    assert est.mi(x, y) == pytest.approx(InfoNCE.mi(est, x, y), rel=1e-6)


def test_an_answer_scores_the_same_whether_or_not_it_is_in_the_bank(rng):
    # the bank entry equal to the scored answer is left out, so adding a split's answers to the pool does not
    # change a row's term through its own answer (only through the other rows' answers, as new negatives)
    est = _est()
    bank = rng.normal(size=(30, 3))
    x, y = rng.normal(size=(1, 4)), rng.normal(size=(1, 3))
    est.set_bank(bank)
    outside = est.pointwise(x, y)
    est.set_bank(np.vstack([bank[:12], y, bank[12:]]))
    assert est.bank_size == 31
    assert est.pointwise(x, y) == pytest.approx(outside, rel=1e-6)  # float32 scores, summed in another order


def test_estimate_never_exceeds_the_ceiling_and_answers_equal_to_references_give_zero_emi(rng):
    x = rng.normal(size=(200, 4))
    y = np.tanh(x[:, :3]) + 0.05 * rng.normal(size=(200, 3))
    est = _est(max_steps=200).fit(x, y)
    for n in (5, 50, 200):
        assert est.mi(x[:n], y[:n]) <= est.ceiling(n) + 1e-9
    assert est.ceiling(5) == est.ceiling(200) == pytest.approx(math.log(201))
    assert est.mi(x[:50], y[:50]) - est.mi(x[:50], y[:50].copy()) == 0.0


def test_mi_weighted_is_the_estimate_on_the_resample(rng):
    est = _est()
    est.set_bank(rng.normal(size=(20, 3)))
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(12, 3))
    idx = rng.integers(0, 12, size=12)
    w = np.bincount(idx, minlength=12)[None, :] / 12
    assert est.mi_weighted(x, y, w)[0] == pytest.approx(est.mi(x[idx], y[idx]), rel=1e-9)
    with pytest.raises(ValueError, match="weights must be"):
        est.mi_weighted(x, y, w[:, :5])


def test_bank_subsample_is_seeded_and_capped(rng):
    answers = rng.normal(size=(50, 3))
    a, b, c = _est(1, bank_size=10), _est(1, bank_size=10), _est(2, bank_size=10)
    for e in (a, b, c):
        e.set_bank(answers)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    assert a.bank_size == 10 and a.mi(x, y) == b.mi(x, y)
    assert sorted(a._bank_index.values()) == list(range(10))


def test_save_load_round_trip_and_errors(rng, tmp_path):
    x = rng.normal(size=(80, 4))
    y = x[:, :3] + rng.normal(size=(80, 3))
    est = mi_estimators.create("infonce-pooled", x_dim=4, y_dim=3, seed=3, hidden_size=16, max_steps=60).fit(x, y)
    path = tmp_path / "pooled.pt"
    est.save(path)
    back = load_mi_estimator(path)
    assert isinstance(back, PooledInfoNCE) and back.bank_size == est.bank_size
    assert back.pointwise(x[:7], y[:7]) == pytest.approx(est.pointwise(x[:7], y[:7]), rel=1e-12)
    with pytest.raises(RuntimeError, match="no bank"):
        _est().mi(x[:3], y[:3])
    with pytest.raises(ValueError, match="separable"):
        PooledInfoNCE(4, 3, critic="joint")
    with pytest.raises(ValueError, match="bank answers"):
        _est().set_bank(rng.normal(size=(5, 2)))
