"""RJSD against closed forms and invariances."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group

from mllmshift.estimators.divergence.rjsd import RJSD, gram, rjsd, rjsd_from_grams, von_neumann_entropy


def _naive_rjsd(a: np.ndarray, b: np.ndarray) -> float:
    """Independent implementation: explicit covariances / n, entropies via scipy's logm-free eigen route."""
    ca = a.T @ a / len(a)
    cb = b.T @ b / len(b)
    ca, cb = ca / np.trace(ca), cb / np.trace(cb)

    def s(c: np.ndarray) -> float:
        w = np.linalg.eigvals(c).real
        w = w[w > 1e-15]
        return float(-(w * np.log(w)).sum())

    return s((ca + cb) / 2) - (s(ca) + s(cb)) / 2


def test_identical_sets_give_zero(rng):
    a = rng.normal(size=(200, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert rjsd(a, a) == pytest.approx(0.0, abs=1e-10)


def test_orthogonal_subspaces_give_ln2(rng):
    a = np.zeros((300, 10))
    b = np.zeros((150, 10))
    a[:, :5] = rng.normal(size=(300, 5))
    b[:, 5:] = rng.normal(size=(150, 5))
    assert rjsd(a, b) == pytest.approx(math.log(2), abs=1e-10)


def test_symmetric(rng):
    a, b = rng.normal(size=(120, 8)), rng.normal(size=(80, 8)) + 0.5
    assert rjsd(a, b) == pytest.approx(rjsd(b, a), abs=1e-12)


def test_matches_naive_implementation(rng):
    a, b = rng.normal(size=(120, 8)), rng.normal(size=(80, 8)) * np.linspace(0.2, 2, 8)
    assert rjsd(a, b) == pytest.approx(_naive_rjsd(a, b), rel=1e-9)


def test_invariant_to_row_order_rotation_and_duplication(rng):
    a, b = rng.normal(size=(100, 6)) + 1.0, rng.normal(size=(70, 6)) * 2
    base = rjsd(a, b)
    assert rjsd(a[rng.permutation(100)], b[rng.permutation(70)]) == pytest.approx(base, abs=1e-12)
    q = ortho_group.rvs(6, random_state=1)
    assert rjsd(a @ q, b @ q) == pytest.approx(base, abs=1e-10)
    assert rjsd(np.concatenate([a, a]), b) == pytest.approx(base, abs=1e-12)


def test_independent_of_sample_sizes_unlike_official_variant(rng):
    """Duplicating one set changes the official (size-weighted) mixture but not ours."""
    a = np.zeros((100, 4))
    b = np.zeros((100, 4))
    a[:, :2] = rng.normal(size=(100, 2))
    b[:, 2:] = rng.normal(size=(100, 2))
    big_a = np.concatenate([a] * 9)
    assert rjsd(big_a, b) == pytest.approx(math.log(2), abs=1e-10)
    official = rjsd(big_a, b, official_unnormalised=True)
    # the official mixture weighs each set by its trace, w ≈ 0.9 here; on orthogonal supports
    # H(mix) = h(w) + w H_a + (1 − w) H_b  ⇒  JSD = h(w) + (w − ½)(H_a − H_b)
    ga, gb = gram(big_a), gram(b)
    w = np.trace(ga) / (np.trace(ga) + np.trace(gb))
    ha, hb = von_neumann_entropy(ga), von_neumann_entropy(gb)
    h = -(w * math.log(w) + (1 - w) * math.log(1 - w))
    assert official == pytest.approx(h + (w - 0.5) * (ha - hb), abs=1e-9)
    assert official < math.log(2) - 0.2


def test_bounded_by_ln2(rng):
    for _ in range(20):
        d = int(rng.integers(2, 12))
        a, b = rng.normal(size=(50, d)) * rng.random(d), rng.normal(size=(40, d)) + rng.normal(size=d)
        assert 0.0 <= rjsd(a, b) <= math.log(2) + 1e-12


def test_negative_rounding_is_clipped_with_warning():
    """Entropies whose combination is slightly negative (as rounding can make) give 0 and a warning."""
    with pytest.warns(RuntimeWarning, match="clipped"):
        value = _force_negative()
    assert value == 0.0


def _force_negative() -> float:
    import mllmshift.estimators.divergence.rjsd as mod

    original = mod.von_neumann_entropy
    calls = iter([1.0, 1.0 + 1e-9, 1.0 + 1e-9])
    mod.von_neumann_entropy = lambda c: next(calls)  # type: ignore[assignment]
    try:
        return mod.rjsd_from_grams(np.eye(2), np.eye(2))
    finally:
        mod.von_neumann_entropy = original


def test_errors_on_bad_input(rng):
    with pytest.raises(ValueError, match="same dimension"):
        rjsd(rng.normal(size=(5, 3)), rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="all zeros"):
        rjsd(np.zeros((5, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        rjsd(np.full((5, 3), np.nan), rng.normal(size=(5, 3)))


def test_estimator_class_wraps_function(rng):
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(60, 4)) + 1
    assert RJSD()(a, b) == rjsd(a, b)
    assert RJSD(official_unnormalised=True).config()["official_unnormalised"] is True


def test_chunked_gram_matches_direct(rng):
    z = rng.normal(size=(20000, 5)).astype(np.float32)
    np.testing.assert_allclose(gram(z, chunk=777), z.astype(np.float64).T @ z.astype(np.float64), rtol=1e-5)


@pytest.mark.parametrize("n, m, d", [(20, 20, 300), (10, 50, 200), (5, 7, 64)])
@pytest.mark.parametrize("official", [False, True])
def test_row_gram_path_equals_covariance_path(n, m, d, official):
    """With n + m < d, rjsd takes the (n+m)-sized row Gram; it must equal the d × d covariance route."""
    g = np.random.default_rng(n + m + d)
    a, b = g.normal(size=(n, d)), g.normal(size=(m, d)) + 0.3
    want = rjsd_from_grams(gram(a), gram(b), official_unnormalised=official, clip=False)
    assert rjsd(a, b, official_unnormalised=official) == pytest.approx(want, rel=1e-10, abs=1e-12)
