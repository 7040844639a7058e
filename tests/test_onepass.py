"""The joint pass (mllmshift.onepass): EMID and the bound from one read equal the separate calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.divergence.rjsd import GramSum, gram
from mllmshift.estimators.mi.club import CLUB
from mllmshift.metrics import emid, emid_upper_bound
from mllmshift.onepass import BLOCK_ROWS, emid_and_bound
from mllmshift.sources import NpySource, iter_blocks

N, D = BLOCK_ROWS + 1500, 24  # two blocks, the second partial


def _arrays(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    a = [rng.standard_normal((N, D)).astype(np.float32) for _ in range(4)]
    a[2] += 0.7 * a[0]  # a response that depends on the input
    a[2][:, : D // 2] *= 3.0  # and is distributed unlike the reference
    return a


def _splits(z: list) -> list[EmbeddedSplit]:
    return [EmbeddedSplit.from_arrays(name, x_visual=z[v], x_text=z[t], response=z[r], reference=z[f], fusion="mean")
            for name, (v, t, r, f) in (("id", (0, 1, 2, 3)), ("ood", (2, 3, 0, 1)))]


@pytest.fixture()
def members() -> list[CLUB]:
    return [CLUB(D, D, hidden_size=16, seed=s) for s in (0, 1)]


@pytest.fixture(params=["arrays", "files"])
def splits(request, tmp_path) -> list[EmbeddedSplit]:
    arrays = _arrays()
    if request.param == "arrays":
        return _splits(arrays)
    srcs = []
    for k, a in enumerate(arrays):
        np.save(tmp_path / f"{k}.npy", a)
        srcs.append(NpySource(tmp_path / f"{k}.npy"))
    return _splits(srcs)


@pytest.mark.parametrize("threads", [1, 2])
def test_joint_pass_equals_the_separate_calls(splits, members, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got_emid, got_bound = emid_and_bound(splits[0], splits[1], members, entropy_scale=2.0)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before  # the pass restores the thread count
    want_emid = emid(splits[0], splits[1], members)
    want_bound = emid_upper_bound(splits[0], splits[1], 2.0, divergence="rjsd")
    # the same chunks' sums in the same order: the CLUB values are identical
    assert got_emid.members == want_emid.members
    assert got_emid.emi_id.to_dict() == want_emid.emi_id.to_dict()
    assert got_emid.emi_ood.to_dict() == want_emid.emi_ood.to_dict()
    # the Gram products may differ by BLAS's thread count only: stated tolerance 1e-9 on each term
    for field in ("jsd_visual", "jsd_text", "jsd_id_output", "jsd_ood_output", "value"):
        assert getattr(got_bound, field) == pytest.approx(getattr(want_bound, field), abs=1e-9)
    assert got_bound.estimators == want_bound.estimators and got_bound.form == want_bound.form
    assert got_bound.jsd_id_output > 0.01  # the dependent response makes a term that could be wrong


def test_joint_pass_falls_back_where_it_does_not_apply(members):
    s = _splits([a[:300] for a in _arrays(1)])
    got = emid_and_bound(s[0], s[1], members, divergence="rjsd-debiased")
    assert got[0].value == emid(s[0], s[1], members).value
    assert got[1].value == pytest.approx(emid_upper_bound(s[0], s[1], divergence="rjsd-debiased").value, abs=1e-12)


def test_joint_pass_names_the_split_without_references(members):
    a = _arrays()
    bad = EmbeddedSplit.from_arrays("ood", x_visual=a[0], x_text=a[1], response=a[2], fusion="mean")
    with pytest.raises(ValueError, match="'ood'"):
        emid_and_bound(_splits(a)[0], bad, members)


def test_gram_products_into_a_buffer_and_in_pieces_equal_gram():
    z = _arrays()[0]
    g, out = GramSum(D), np.empty((D, D), np.float32)
    for _, (b,) in iter_blocks([z], 1000):
        g.add_product(g.product(b, out))
    np.testing.assert_array_equal(g.value(), gram(z, 1000))
    naive = z.astype(np.float64).T @ z.astype(np.float64)
    np.testing.assert_allclose(g.value(), naive, rtol=1e-5, atol=1e-3)


def test_ring_buffers_give_the_same_blocks(tmp_path):
    z = _arrays()[1]
    np.save(tmp_path / "z.npy", z)
    src = NpySource(tmp_path / "z.npy")
    plain = [b.copy() for _, (b,) in iter_blocks([src], 1000)]
    ringed = [b.copy() for _, (b,) in iter_blocks([src], 1000, ring=3)]
    assert len(plain) == len(ringed) == 10
    for a, b in zip(plain, ringed):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="at least 3"):
        next(iter_blocks([src], 1000, ring=2))


def test_text_only_splits_read_x_once_and_match(members):
    a = _arrays(2)
    s = [EmbeddedSplit.from_arrays(name, x_text=a[t], response=a[r], reference=a[f], fusion="text")
         for name, (t, r, f) in (("id", (1, 2, 3)), ("ood", (3, 0, 1)))]
    got_emid, got_bound = emid_and_bound(s[0], s[1], members)
    assert got_emid.members == emid(s[0], s[1], members).members
    want = emid_upper_bound(s[0], s[1], divergence="rjsd")
    assert got_bound.jsd_visual is None and want.jsd_visual is None
    assert got_bound.value == pytest.approx(want.value, abs=1e-9)
