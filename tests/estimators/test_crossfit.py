"""crossfit: every row scored by the member that did not see it (checked against a naive assembly of the score
matrix), folds by input or by group, the held-out protocol removes the over-fitting bias, bootstrap, I/O."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mllmshift.estimators import load_mi_estimator, mi_estimators
from mllmshift.estimators.mi.crossfit import CrossFitMI
from mllmshift.estimators.mi.infonce import InfoNCE
from mllmshift.estimators.mi.rows import row_digests

TINY = {"hidden_size": 16, "embed_dim": 8, "max_steps": 40, "eval_every": 10, "patience": 2}


def _assembled(est: CrossFitMI, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """S[i, j] = T_{k(i)}(x_i, y_j), built row by row from the members' critics (float64)."""
    fold = est.folds_of(x)
    s = np.empty((len(x), len(y)))
    for i in range(len(x)):
        m = est.members[fold[i]]
        with torch.no_grad():
            s[i] = m.critic.cross(m._tensor(x[i : i + 1], m._x_moments), m._tensor(y, m._y_moments)).double().numpy()
    return s


def _data(rng: np.random.Generator, n: int = 60, rho: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 3))
    return x, rho * x[:, :2] + math.sqrt(1 - rho**2) * rng.normal(size=(n, 2))


def test_infonce_on_the_assembled_matrix_equals_the_naive_formula(rng):
    x, y = _data(rng)
    est = CrossFitMI(3, 2, folds=3, seed=1, **TINY).fit(x, y)
    s = _assembled(est, x[:25], y[:25])
    naive = np.mean([s[i, i] - math.log(np.mean(np.exp(s[i]))) for i in range(25)])
    assert est.mi(x[:25], y[:25]) == pytest.approx(naive, rel=1e-5, abs=1e-6)
    assert est.pointwise(x[:25], y[:25]).mean() == pytest.approx(naive, rel=1e-5, abs=1e-6)
    assert est.ceiling(25) == pytest.approx(math.log(25))
    idx = rng.integers(0, 25, size=25)
    w = np.bincount(idx, minlength=25)[None, :] / 25
    wn = w[0]
    naive_w = sum(wn[i] * (s[i, i] - math.log(np.sum(wn * np.exp(s[i])))) for i in range(25) if wn[i] > 0)
    assert est.mi_weighted(x[:25], y[:25], w)[0] == pytest.approx(naive_w, rel=1e-5, abs=1e-6)


def test_no_member_scores_a_row_it_was_trained_on(rng):
    x, y = _data(rng, 50)
    x[25:] = x[:25]  # every input twice (one instruction, two answers): one group each
    est = CrossFitMI(3, 2, folds=5, seed=0, **TINY).fit(x, y)
    fold = est.folds_of(x)
    assert (fold[:25] == fold[25:]).all()  # identical inputs share a fold
    assert sorted(est.history["fold_pairs"]) == [10] * 5 and est.history["n_groups"] == 25
    for k, m in enumerate(est.members):
        assert m.history["n_train"] + m.history["n_val"] == 50 - int((fold == k).sum())
    unseen = rng.normal(size=(4, 3))
    want = [int.from_bytes(d[:4], "little") % 5 for d in row_digests(unseen)]
    assert est.folds_of(unseen).tolist() == want


def test_groups_put_every_row_of_a_group_in_one_fold(rng):
    x, y = _data(rng, 40)
    groups = [f"item{i % 8}" for i in range(40)]  # 8 items, 5 versions each, all with different inputs
    est = CrossFitMI(3, 2, folds=4, seed=2, **TINY).fit(x, y, groups=groups)
    fold = est.folds_of(x)
    for g in set(groups):
        assert len({fold[i] for i in range(40) if groups[i] == g}) == 1
    with pytest.raises(ValueError, match="one label per pair"):
        est.fit(x, y, groups=groups[:5])
    with pytest.raises(ValueError, match="cannot fill"):
        CrossFitMI(3, 2, folds=9, **TINY).fit(x, y, groups=groups)


def test_held_out_scores_remove_the_over_fitting_bias(rng):
    # X and Y independent (MI = 0): InfoNCE fitted and evaluated on the same 120 pairs learns them and reports
    # a clearly positive MI; cross-fitted, every pair is scored by a critic that never saw it
    x, y = rng.normal(size=(120, 10)), rng.normal(size=(120, 10))
    opts = {"hidden_size": 64, "max_steps": 400, "patience": 8, "val_fraction": 0.1}
    plain = InfoNCE(10, 10, seed=0, **opts).fit(x, y).mi(x, y)
    held_out = CrossFitMI(10, 10, folds=4, seed=0, **opts).fit(x, y).mi(x, y)
    assert plain > 0.1
    assert held_out < 0.05 and held_out < plain - 0.1


def test_other_bases_and_bad_options(rng):
    x, y = _data(rng)
    smile = CrossFitMI(3, 2, base="smile", folds=2, seed=0, **TINY).fit(x, y)
    assert math.isfinite(smile.mi(x, y)) and smile.ceiling(60) is None
    assert smile.pointwise(x, y).mean() == pytest.approx(smile.mi(x, y), rel=1e-9, abs=1e-12)
    with pytest.raises(ValueError, match="trained base"):
        CrossFitMI(3, 2, base="ksg")
    with pytest.raises(ValueError, match="at least 2"):
        CrossFitMI(3, 2, folds=1)
    with pytest.raises(ValueError, match="negatives"):
        CrossFitMI(3, 2, negatives=5)


def test_seeded_save_load_round_trip(rng, tmp_path):
    x, y = _data(rng)
    a = mi_estimators.create("crossfit", x_dim=3, y_dim=2, seed=4, folds=3, **TINY).fit(x, y)
    b = mi_estimators.create("crossfit", x_dim=3, y_dim=2, seed=4, folds=3, **TINY).fit(x, y)
    assert a.mi(x, y) == b.mi(x, y)
    path = tmp_path / "cf.pt"
    a.save(path)
    back = load_mi_estimator(path)
    assert isinstance(back, CrossFitMI) and back.config() == a.config()
    assert back.mi(x, y) == pytest.approx(a.mi(x, y), rel=1e-12)
    assert (back.folds_of(x) == a.folds_of(x)).all()


def test_pooled_groups_keep_an_item_and_its_shifted_versions_in_one_fold(rng):
    from mllmshift.embeddings import EmbeddedSplit
    from mllmshift.estimators.fitting import fit_estimator, pooled_groups, pooled_pairs

    ids = [f"q{i}" for i in range(20)]

    def split(name: str, shift: float) -> EmbeddedSplit:
        x = rng.normal(size=(20, 3)).astype(np.float32) + shift  # shifted versions: other inputs, same items
        return EmbeddedSplit.from_arrays(name, x_text=x, response=x[:, :2], reference=x[:, :2] + 0.1, ids=ids)

    splits = [split("id", 0.0), split("shift", 0.5)]
    assert pooled_groups(splits) == ids * 4
    x, y = pooled_pairs(splits)
    est = CrossFitMI(3, 2, seed=0, folds=4, **TINY).fit(x, y, groups=pooled_groups(splits))
    assert est.history["n_groups"] == 20
    a, b = est.folds_of(splits[0].x), est.folds_of(splits[1].x)
    assert (a == b).all()  # an item and its shifted version are scored by the same held-out member
    # crossfit named with cross-fitting off: each distinct input row is a group, 40 of them here
    rows = fit_estimator(splits, "crossfit", seed=0, crossfit_folds=0, folds=4, **TINY)
    assert isinstance(rows, CrossFitMI) and rows.history["n_groups"] == 40
    # the default fit groups by sample id, whatever the base
    items = fit_estimator(splits, "crossfit", seed=0, folds=4, **TINY)
    assert items.folds == 4 and items.history["n_groups"] == 20
    smile = fit_estimator(splits, "smile", seed=0, crossfit_folds=4, **{k: v for k, v in TINY.items()})
    assert isinstance(smile, CrossFitMI) and smile.base == "smile" and smile.history["n_groups"] == 20
    assert (smile.folds_of(splits[0].x) == smile.folds_of(splits[1].x)).all()
    plain = fit_estimator(splits, "smile", seed=0, crossfit_folds=0, **TINY)
    assert type(plain).__name__ == "SMILE"
