"""Out-of-core scoring equals the in-memory path: the same estimators and metrics read rows from .npy files in
chunks, never materialise them, and give the in-memory numbers to float tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.fitting import fit_estimator
from mllmshift.estimators.mi.club import CLUB
from mllmshift.estimators.mi.infonce import InfoNCE
from mllmshift.estimators.mi.sampled_club import SampledCLUB
from mllmshift.metrics import bootstrap_emi, bootstrap_emid, emi, emid, emid_upper_bound
from mllmshift.resampling import PoissonWeights
from mllmshift.sources import NpySource


class StrictSource(NpySource):
    """A .npy source that refuses to be materialised whole (so a test sees every streaming path read chunks)."""

    max_rows = 64

    def read(self, start, stop):
        if stop - start > self.max_rows:
            raise AssertionError(f"read {stop - start} rows at once; the streaming path reads chunks")
        return super().read(start, stop)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _unit(g, n, d):
    a = g.standard_normal((n, d)).astype(np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _split(g, name, n=300, d=8, shift=0.0):
    v, t = _unit(g, n, d), _unit(g, n, d)
    resp = _unit(g, n, d) * 0.3 + (v + t) * 0.5
    ref = _unit(g, n, d) * 0.6 + (v + t) * 0.4 + shift
    return {"x_visual": v, "x_text": t, "response": resp.astype(np.float32), "reference": ref.astype(np.float32)}


def _on_disk(tmp_path, name, arrays, cls=StrictSource):
    out = {}
    for k, a in arrays.items():
        path = tmp_path / f"{name}-{k}.npy"
        np.save(path, a)
        out[k] = cls(path)
    return out


def _splits(tmp_path, seed=0):
    g = np.random.default_rng(seed)
    id_a, ood_a = _split(g, "id"), _split(g, "ood", shift=0.05)
    mem = [EmbeddedSplit.from_arrays(n, fusion="mean", **a) for n, a in (("id", id_a), ("ood", ood_a))]
    disk = [EmbeddedSplit.from_arrays(n, fusion="mean", **_on_disk(tmp_path, n, a))
            for n, a in (("id", id_a), ("ood", ood_a))]
    return mem, disk


def test_club_scores_pointwise_and_bootstraps_equal_in_memory(tmp_path):
    (mem, _), (disk, _) = _splits(tmp_path)
    big = CLUB(8, 8, hidden_size=16, seed=0, chunk_size=4096)
    small = CLUB(8, 8, hidden_size=16, seed=0, chunk_size=50)
    small.net.load_state_dict(big.net.state_dict())
    want = big.mi_many(mem.x, [mem.response, mem.reference])
    got = small.mi_many(disk.x, [disk.response, disk.reference])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(small.pointwise(disk.x, disk.response), big.pointwise(mem.x, mem.response),
                               rtol=1e-9, atol=1e-12)
    w = PoissonWeights(len(mem), 37, seed=2)
    np.testing.assert_allclose(small.mi_resampled(disk.x, [disk.response], w),
                               big.mi_resampled(mem.x, [mem.response], w), rtol=1e-9, atol=1e-12)
    # a replicate whose weights are all 1 is the estimate itself; integer weights are the resample
    idx = w.indices(5)
    assert big.mi_resampled(mem.x, [mem.response], w)[0, 5] == pytest.approx(big.mi(mem.x[idx], mem.response[idx]),
                                                                           rel=1e-9)


def test_fits_on_sources_equal_fits_in_memory(tmp_path, monkeypatch):
    """CLUB and InfoNCE trained from rows read per mini-batch (nothing resident) equal the resident fit."""
    import mllmshift.estimators._batches as batches

    (mem, _), (disk, _) = _splits(tmp_path)
    StrictSource.max_rows = 300  # a ConcatSource reads each part's block; mini-batches are gathered with take
    for cls, opts in ((CLUB, {"hidden_size": 16, "max_epochs": 15, "chunk_size": 64}),
                      (InfoNCE, {"hidden_size": 16, "max_steps": 60, "eval_every": 20, "chunk_size": 64})):
        a = fit_estimator([mem], cls.name, seed=3, crossfit_folds=0, **opts)
        monkeypatch.setattr(batches, "RESIDENT_BYTES", 0)
        b = fit_estimator([disk], cls.name, seed=3, crossfit_folds=0, **opts)
        monkeypatch.undo()
        for (ka, va), (kb, vb) in zip(a.net.state_dict().items() if cls is CLUB else a.critic.state_dict().items(),
                                      b.net.state_dict().items() if cls is CLUB else b.critic.state_dict().items()):
            torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6)
        assert b.mi(disk.x, disk.response) == pytest.approx(a.mi(mem.x, mem.response), rel=1e-5, abs=1e-6)
    StrictSource.max_rows = 64


def test_infonce_and_sampled_club_read_chunks_and_equal_in_memory(tmp_path, monkeypatch):
    import mllmshift.estimators._batches as batches

    (mem, _), (disk, _) = _splits(tmp_path)
    g = np.random.default_rng(1)
    est = InfoNCE(8, 8, hidden_size=16, max_steps=40, seed=0, chunk_size=64).fit(mem.x, mem.response)
    monkeypatch.setattr(batches, "RESIDENT_BYTES", 0)  # rows on disk are read a chunk at a time
    assert est.mi(disk.x, disk.response) == pytest.approx(est.mi(mem.x, mem.response), rel=1e-6)
    np.testing.assert_allclose(est.pointwise(disk.x, disk.response), est.pointwise(mem.x, mem.response), rtol=1e-6)
    w = PoissonWeights(len(mem), 5, seed=int(g.integers(100)))
    np.testing.assert_allclose(est.mi_resampled(disk.x, [disk.response], w),
                               est.mi_resampled(mem.x, [mem.response], w), rtol=1e-6)
    sc = SampledCLUB(8, 8, hidden_size=16, seed=0, chunk_size=64)
    assert sc.mi(disk.x, disk.response) == pytest.approx(sc.mi(mem.x, mem.response), rel=1e-9)


def test_emi_emid_bootstrap_and_bound_equal_in_memory(tmp_path):
    (mem_id, mem_ood), (disk_id, disk_ood) = _splits(tmp_path)
    est = CLUB(8, 8, hidden_size=16, seed=0, chunk_size=50)
    a, b = emid(mem_id, mem_ood, est), emid(disk_id, disk_ood, est)
    assert b.value == pytest.approx(a.value, rel=1e-9, abs=1e-12)
    assert b.emi_id.mi_response == pytest.approx(a.emi_id.mi_response, rel=1e-9)
    ci_a = bootstrap_emid(mem_id, mem_ood, est, n_resamples=40, seed=4, scheme="poisson")
    ci_b = bootstrap_emid(disk_id, disk_ood, est, n_resamples=40, seed=4, scheme="poisson")
    assert (ci_b.low, ci_b.high) == pytest.approx((ci_a.low, ci_a.high), rel=1e-9, abs=1e-12)
    assert ci_b.scheme == "poisson"
    e1 = bootstrap_emi(mem_id.x, mem_id.response, mem_id.reference, est, 30, seed=1, scheme="poisson")
    e2 = bootstrap_emi(disk_id.x, disk_id.response, disk_id.reference, est, 30, seed=1, scheme="poisson")
    assert e2.std == pytest.approx(e1.std, rel=1e-9)
    from mllmshift.estimators.divergence import rjsd as rjsd_module

    old = rjsd_module._CHUNK
    rjsd_module._CHUNK = 64
    try:
        bound_disk = emid_upper_bound(disk_id, disk_ood, divergence="rjsd")
    finally:
        rjsd_module._CHUNK = old
    bound_mem = emid_upper_bound(mem_id, mem_ood, divergence="rjsd")
    # Gram blocks are float32 products summed in float64: 64-row blocks round differently from one block of
    # 300, and a JSD is a small difference of entropies, so the terms agree to ~1e-6 relative
    for term in ("value", "jsd_visual", "jsd_text", "jsd_id_output", "jsd_ood_output"):
        assert getattr(bound_disk, term) == pytest.approx(getattr(bound_mem, term), rel=1e-5, abs=1e-9)
    assert emi(disk_id.x, disk_id.response, disk_id.reference, est).value == pytest.approx(
        emi(mem_id.x, mem_id.response, mem_id.reference, est).value, rel=1e-9)
