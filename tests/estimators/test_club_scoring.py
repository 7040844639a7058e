"""CLUB's scoring pieces (mllmshift.estimators.mi.club_scoring) against the network and mi_many."""

from __future__ import annotations

import numpy as np
import torch

from mllmshift.estimators.mi.club import CLUB
from mllmshift.estimators.mi.club_scoring import fused_forward


def _data(n: int = 2500, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (0.8 * x + 0.3 * rng.standard_normal((n, d))).astype(np.float32), rng.standard_normal((n, d)).astype(
        np.float32)


def test_fused_first_layer_equals_the_two_heads():
    est = CLUB(20, 12, hidden_size=30, seed=3)
    x = torch.randn(500, 20)
    with torch.no_grad():
        mu, lv = est.net(x)
        fmu, flv = fused_forward(est.net, x)
    torch.testing.assert_close(fmu, mu, rtol=1e-5, atol=1e-6)  # float32 rounding of one product vs two
    torch.testing.assert_close(flv, lv, rtol=1e-5, atol=1e-6)


def test_scorer_fed_in_blocks_equals_mi_many_and_packed_terms_equal_terms():
    x, y1, y2 = _data()
    est = CLUB(20, 20, hidden_size=16, seed=1, chunk_size=256, max_epochs=5).fit(x, y1)
    want = est.mi_many(x, [y1, y2])
    sc = est.scorer(2)
    for s in range(0, len(x), 1024):
        sc.add(x[s : s + 1024], [y1[s : s + 1024], y2[s : s + 1024]])
    assert sc.values() == want  # the same chunks in the same order
    packed = est.scorer(2)
    row = torch.empty(packed.packed_size, dtype=torch.float64)
    for s in range(0, len(x), 256):
        packed.accumulate_packed(packed.terms_into(x[s : s + 256], [y1[s : s + 256], y2[s : s + 256]], row))
    assert packed.values() == want
    assert want[0] > want[1] + 0.1  # the dependent y carries information, the independent one does not


def test_naive_club_formula_still_matches():
    x, y, _ = _data(300)
    est = CLUB(20, 20, hidden_size=16, seed=2)
    with torch.no_grad():
        xt, yt = torch.from_numpy(x).double(), torch.from_numpy(y).double()
        mu, lv = (t.double() for t in est.net(torch.from_numpy(x)))
        pos = (-(mu - yt) ** 2 / 2.0 / lv.exp()).sum(-1)
        neg = (-((yt.unsqueeze(0) - mu.unsqueeze(1)) ** 2).mean(dim=1) / 2.0 / lv.exp()).sum(-1)
        naive = float((pos - neg).mean())
    assert abs(est.mi(x, y) - naive) < 1e-5 * max(1.0, abs(naive))
