"""CLUB's closed-form training step against autograd (the loop it replaced), and Rows.batches against Rows.batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mllmshift.estimators._adam import Adam
from mllmshift.estimators._batches import Rows
from mllmshift.estimators.mi.club import CLUB
from mllmshift.estimators.mi.club_reference import autograd_fit
from mllmshift.estimators.mi.club_training import FlatCLUBStep
from mllmshift.sources import ArraySource


def _pairs(rng: np.random.Generator, n: int, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, dx)).astype(np.float32)
    y = (np.tanh(x @ rng.normal(size=(dx, dy)) / np.sqrt(dx)) + 0.5 * rng.normal(size=(n, dy))).astype(np.float32)
    return x, y


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
@pytest.mark.parametrize("fused", [True, False])
def test_steps_equal_autograd_to_float32_rounding(rng, weight_decay, fused):
    """Same batches, same start: losses and every parameter after 25 Adam steps agree to ~1e-7 (float32
    rounding of a multiply by e^{-l} instead of a divide by e^l, tanh as 2 sigmoid(2z) - 1, the fused Adam
    kernel, the merged first-layer product); the
    test allows 1e-5 absolute on parameters of size ~0.3, 1e-6 relative on the losses."""
    x, y = (torch.as_tensor(a) for a in _pairs(rng, 96, 10, 6))
    a = CLUB(10, 6, hidden_size=24, seed=4)
    b = CLUB(10, 6, hidden_size=24, seed=4)
    opt = Adam(a.net.parameters(), lr=1e-3, weight_decay=weight_decay, fused=False)
    # fused=False: Adam's element-wise kernels (torch < 2.4 on the CPU)
    stepper = FlatCLUBStep(b.net, lr=1e-3, weight_decay=weight_decay, fused=None if fused else False)
    with stepper.aliased():
        for i in range(25):
            xb, yb = x[(i * 32) % 96 :][:32], y[(i * 32) % 96 :][:32]
            loss = a._nll(xb, yb).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert stepper.step(xb, yb) == pytest.approx(float(loss.detach()), rel=1e-6)
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        torch.testing.assert_close(sb[k], sa[k], rtol=0, atol=1e-5)
        assert sb[k].is_contiguous()
    # after the block every parameter owns its storage again (saving one saves only itself)
    ptrs = {p.untyped_storage().data_ptr() for p in b.net.parameters()}
    assert len(ptrs) == len(list(b.net.parameters()))


def test_whole_fit_equals_the_autograd_fit(rng):
    """A whole early-stopped fit (200 pairs, up to 40 epochs) keeps the same epoch as the autograd loop and
    ends within 1e-4 relative of its held-out NLL and of its estimate: the per-step float32 differences
    (~1e-7) grow over ~160 Adam steps but stay far below the estimate's own seed-to-seed spread (~1e-2)."""
    x, y = _pairs(rng, 200, 8, 5)
    opts = dict(hidden_size=32, max_epochs=40, patience=5, batch_size=32, lr=3e-3)
    ref = autograd_fit(CLUB(8, 5, seed=2, **opts), x, y)
    new = CLUB(8, 5, seed=2, **opts).fit(x, y)
    assert new.history["best_epoch"] == ref.history["best_epoch"]
    assert len(new.history["val_nll"]) == len(ref.history["val_nll"])
    np.testing.assert_allclose(new.history["val_nll"], ref.history["val_nll"], rtol=1e-4)
    np.testing.assert_allclose(new.history["train_nll"], ref.history["train_nll"], rtol=1e-4)
    assert new.mi(x, y) == pytest.approx(ref.mi(x, y), rel=1e-4)


def test_a_fit_on_a_source_equals_the_fit_in_memory(rng):
    """Rows read from a source batch by batch (not resident) give the same batches, so the same fit."""
    x, y = _pairs(rng, 120, 6, 4)
    opts = dict(hidden_size=16, max_epochs=6, patience=6, batch_size=16)
    a = CLUB(6, 4, seed=1, **opts).fit(x, y)
    import mllmshift.estimators._batches as batches

    old = batches.RESIDENT_BYTES
    batches.RESIDENT_BYTES = 0
    try:
        b = CLUB(6, 4, seed=1, **opts).fit(ArraySource(x), ArraySource(y))
    finally:
        batches.RESIDENT_BYTES = old
    assert b.history["val_nll"] == a.history["val_nll"]
    for p, q in zip(a.net.parameters(), b.net.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("resident_bytes", [None, 0])
def test_batches_are_the_batches_of_the_order(rng, resident_bytes, monkeypatch):
    """Rows.batches(order, size) yields exactly Rows.batch(order[s : s + size]) for every s, whether the rows are
    resident (gathered a group at a time; a small GATHER_BYTES forces several groups) or read per batch."""
    import mllmshift.estimators._batches as batches

    monkeypatch.setattr(batches, "GATHER_BYTES", 3 * 10 * (5 + 3) * 4 + 7)  # 3 batches of 10 rows a group
    x, y = rng.normal(size=(95, 5)), rng.normal(size=(95, 3))
    rows = Rows([x, y], rng.permutation(95)[:83], torch.device("cpu"), resident_bytes=resident_bytes)
    order = torch.randperm(83, generator=torch.Generator().manual_seed(0))
    got = list(rows.batches(order, 10))
    assert len(got) == 9 and len(got[-1][0]) == 3
    for k, pair in enumerate(got):
        want = rows.batch(order[k * 10 : (k + 1) * 10])
        for a, b in zip(pair, want):
            assert torch.equal(a, b)
