"""Every registered estimator builds through its registry with the interface the metrics use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.estimators import divergence_estimators, mi_estimators, two_sample_tests
from mllmshift.estimators.base import DivergenceEstimator, MIEstimator
from mllmshift.estimators.fitting import fit_estimator
from mllmshift.metrics import emid_upper_bound
from mllmshift.embeddings import EmbeddedSplit

FAST = {"club": {"hidden_size": 8, "max_epochs": 2}, "club-sampled": {"hidden_size": 8, "max_epochs": 2},
        "infonce": {"hidden_size": 8, "max_steps": 5}, "nwj": {"hidden_size": 8, "max_steps": 5},
        "mine": {"hidden_size": 8, "max_steps": 5}, "smile": {"hidden_size": 8, "max_steps": 5}}


@pytest.mark.parametrize("name", mi_estimators.names())
def test_mi_estimator_interface(name, rng):
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    est = mi_estimators.create(name, x_dim=3, y_dim=2, seed=0, **FAST.get(name, {}))
    assert isinstance(est, MIEstimator)
    assert est.fit(x, y) is est
    assert math.isfinite(est.mi(x, y))
    assert est.config()["name"] == name == est.name


def _split(rng: np.random.Generator, name: str, shift: float = 0.0) -> EmbeddedSplit:
    n = 30
    return EmbeddedSplit.from_arrays(name, x_text=rng.normal(size=(n, 4)) + shift,
                                     response=rng.normal(size=(n, 4)), reference=rng.normal(size=(n, 4)))


@pytest.mark.parametrize("name", ["infonce", "ksg", "gaussian"])
def test_fit_estimator_builds_zoo_members(name, rng):
    est = fit_estimator([_split(rng, "a")], name, seed=1, **FAST.get(name, {}))
    # trained estimators are cross-fitted by default (held-out scores); closed-form ones are used as they are
    assert est.name == ("crossfit" if name == "infonce" else name)
    assert getattr(est, "base", name) == name
    assert fit_estimator([_split(rng, "a")], name, seed=1, crossfit_folds=0, **FAST.get(name, {})).name == name


def test_divergence_estimators_and_per_term_choice(rng):
    quick = {"classifier-jsd": {"max_steps": 100}, "rjsd-rff": {"n_features": 64}}
    for name in divergence_estimators.names():
        est = divergence_estimators.create(name, **quick.get(name, {}))
        assert isinstance(est, DivergenceEstimator)
        a = rng.normal(size=(30, 3))
        assert 0.0 <= est.divergence(a, a + 5.0) <= math.log(2) + 1e-9
    ids, ood = _split(rng, "id"), _split(rng, "ood", 3.0)
    choice = {"text": divergence_estimators.create("classifier-jsd", max_steps=50),
              "id_output": divergence_estimators.create("rjsd-rff", n_features=64)}
    mixed = emid_upper_bound(ids, ood, divergence=choice)
    assert mixed.jsd_text == pytest.approx(choice["text"].divergence(ids.x_text, ood.x_text))
    assert "mmd" in two_sample_tests.names() and "mmd" not in divergence_estimators.names()
