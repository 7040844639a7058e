"""InfoNCE, NWJ, MINE, SMILE: the chunked bounds against naive n × n formulas, closed-form tasks, seeding, I/O."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mllmshift.errors import DataError
from mllmshift.estimators import mi_estimators
from mllmshift.estimators.mi.critics import JointCritic, SeparableCritic, make_critic
from mllmshift.estimators.mi.infonce import InfoNCE
from mllmshift.estimators.mi.mine import MINE
from mllmshift.estimators.mi.nwj import NWJ
from mllmshift.estimators.mi.smile import SMILE
from mllmshift.estimators.mi.scores import ScoreStats

BOUNDS = [InfoNCE, NWJ, MINE, SMILE]


def _naive(name: str, s: np.ndarray, tau: float = 5.0) -> float:
    """The textbook formulas on the full score matrix s[i, j] = T(x_i, y_j) (float64, explicit loops)."""
    n = len(s)
    pos = np.diag(s)
    neg = s[~np.eye(n, dtype=bool)]
    if name == "infonce":
        return float(np.mean([s[i, i] - np.log(np.mean(np.exp(s[i]))) for i in range(n)]))
    if name == "nwj":
        return float(pos.mean() - np.mean(np.exp(neg - 1.0)))
    if name == "mine":
        return float(pos.mean() - np.log(np.mean(np.exp(neg))))
    if name == "smile":
        return float(pos.mean() - np.log(np.mean(np.exp(np.clip(neg, -tau, tau)))))
    raise AssertionError(name)


def _scores(est, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        xt = est._tensor(x, est._x_moments)
        yt = est._tensor(y, est._y_moments)
        return est.critic.cross(xt, yt).double().numpy()


@pytest.mark.parametrize("cls", BOUNDS)
@pytest.mark.parametrize("critic", ["separable", "joint"])
def test_chunked_bound_equals_naive_formula(cls, critic, rng):
    # an untrained critic is a fixed function: mi() must equal the formula on its n × n scores;
    # scores are float32, so agreement is to float32 rounding of O(1) sums (1e-5 relative)
    est = cls(3, 2, critic=critic, hidden_size=16, embed_dim=8, seed=4, chunk_size=7)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    s = _scores(est, x, y)
    assert est.mi(x, y) == pytest.approx(_naive(est.name, s), rel=1e-5, abs=1e-6)


def test_chunking_does_not_change_the_estimate(rng):
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    a = NWJ(4, 4, hidden_size=16, seed=2, chunk_size=1024).mi(x, y)
    b = NWJ(4, 4, hidden_size=16, seed=2, chunk_size=3).mi(x, y)
    assert a == pytest.approx(b, rel=1e-6)


def test_score_stats_merge_is_exact():
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(10, generator=g), torch.randn(10, 9, generator=g) * 3
    whole = ScoreStats.from_scores(pos, neg, 1.0)
    parts = ScoreStats.from_scores(pos[:4], neg[:4], 1.0).merge(ScoreStats.from_scores(pos[4:], neg[4:], 1.0))
    for f in ("pos_sum", "infonce_sum", "neg_lse", "neg_lse_clip"):
        assert float(getattr(parts, f)) == pytest.approx(float(getattr(whole, f)), rel=1e-12)
    assert (parts.n, parts.neg_count) == (10, 90)


def test_infonce_never_exceeds_log_n(rng):
    # unit vectors and T = 10⁴·xᵀy: matched pairs score far above all others, InfoNCE saturates at ln n
    # (16-d directions are far apart: every off-diagonal score is thousands below the diagonal)
    x = rng.normal(size=(40, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    est = InfoNCE(16, 16, hidden_size=8, seed=0)
    with torch.no_grad():
        est.critic = _IdentityCritic(scale=1e4)
    assert est.mi(x, x) == pytest.approx(math.log(40), abs=1e-9)
    assert est.mi(x, x) <= math.log(40) + 1e-12


class _Scale(torch.nn.Module):
    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = s

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.s * t


class _IdentityCritic(SeparableCritic):
    """T(x, y) = scale · xᵀy (f, g scaled identities)."""

    def __init__(self, scale: float) -> None:
        super().__init__(1, 1, 1, 1, 1)
        self.f = _Scale(math.sqrt(scale))
        self.g = _Scale(math.sqrt(scale))


def test_smile_clip_and_dv_relation(rng):
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    smile_inf = SMILE(2, 2, hidden_size=8, seed=1, tau=math.inf)
    mine = MINE(2, 2, hidden_size=8, seed=1)  # same seed → same initial critic
    assert smile_inf.mi(x, y) == pytest.approx(mine.mi(x, y), rel=1e-9)
    # with every negative score far above τ, log E[clip(e^T)] = τ exactly
    smile = SMILE(2, 2, hidden_size=8, seed=1, tau=0.5)
    smile.critic = _IdentityCritic(scale=1.0)
    big = np.full((20, 2), 3.0) + rng.normal(scale=0.01, size=(20, 2))
    s = _scores(smile, big, big)
    assert smile.mi(big, big) == pytest.approx(np.diag(s).mean() - 0.5, rel=1e-6)


def test_mine_moving_average_objective_has_unit_ratio_at_start():
    m = MINE(2, 2, hidden_size=8, seed=0, ema_rate=0.5)
    g = torch.Generator().manual_seed(1)
    pos, neg = torch.randn(8, generator=g), torch.randn(8, 7, generator=g)
    stats = ScoreStats.from_scores(pos, neg, None)
    # first step: m = ē, so the surrogate is T̄₊ − 1
    assert float(m._objective(stats, pos, neg)) == pytest.approx(float(pos.double().mean()) - 1.0, rel=1e-9)
    # second step with different negatives: m = ½ m₀ + ½ ē₁ (ema_rate 0.5)
    neg2 = neg + 1.0
    stats2 = ScoreStats.from_scores(pos, neg2, None)
    e0, e1 = float(stats.log_mean_exp_neg.exp()), float(stats2.log_mean_exp_neg.exp())
    want = float(pos.double().mean()) - e1 / (0.5 * e0 + 0.5 * e1)
    assert float(m._objective(stats2, pos, neg2)) == pytest.approx(want, rel=1e-9)


def _gaussian_pairs(n: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 1))
    return x, rho * x + math.sqrt(1 - rho**2) * r.normal(size=(n, 1))


@pytest.mark.parametrize("cls", BOUNDS)
def test_recovers_bivariate_gaussian_mi(cls):
    r"""ρ = 0.8: I = −½ ln(1 − 0.64) = 0.511 nats, n = 1,000.

    Tolerance 0.12: across seeds these bounds have a standard deviation of about
    0.03–0.05 at n = 1,000 on this task, and a critic fitted and evaluated on the
    same sample is biased by at most a few hundredths (the validation table,
    normal-1x1 at n = 1,000); 0.12 leaves ≥ 2σ of room, while a broken bound
    (e.g. a sign error, or ignoring negatives) misses by ≥ 0.3.
    """
    x, y = _gaussian_pairs(1000, 0.8, seed=0)
    est = cls(1, 1, seed=0, hidden_size=32, max_steps=300, eval_every=25, patience=4)
    assert est.fit(x, y).mi(x, y) == pytest.approx(-0.5 * math.log(1 - 0.64), abs=0.12)


@pytest.mark.parametrize("cls", BOUNDS)
def test_independent_variables_give_near_zero(cls, rng):
    # Tolerance 0.1: the held-out early stopping keeps an untrained-like critic on
    # independent data; fitting on 400 pairs can overfit the sample by a few hundredths.
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    est = cls(2, 2, seed=0, hidden_size=32, max_steps=150, eval_every=25, patience=3)
    assert abs(est.fit(x, y).mi(x, y)) < 0.1


@pytest.mark.parametrize("cls", BOUNDS)
def test_seeded_fit_is_reproducible(cls):
    x, y = _gaussian_pairs(300, 0.7, seed=3)
    a = cls(1, 1, seed=5, hidden_size=16, max_steps=40).fit(x, y).mi(x, y)
    b = cls(1, 1, seed=5, hidden_size=16, max_steps=40).fit(x, y).mi(x, y)
    c = cls(1, 1, seed=6, hidden_size=16, max_steps=40).fit(x, y).mi(x, y)
    assert a == b
    assert a != c


def test_joint_critic_with_sampled_negatives_is_reproducible_and_bounded():
    x, y = _gaussian_pairs(200, 0.9, seed=1)
    kw = dict(critic="joint", negatives=8, hidden_size=16, max_steps=100, seed=2)
    a = InfoNCE(1, 1, **kw).fit(x, y)
    b = InfoNCE(1, 1, **kw).fit(x, y)
    assert a.mi(x, y) == b.mi(x, y)
    assert a.mi(x, y) <= math.log(9) + 1e-9  # 8 negatives + the positive


def test_critic_shapes_and_consistency(rng):
    for critic in (SeparableCritic(3, 2, 8, 1, 4), JointCritic(3, 2, 8, 1)):
        x = torch.as_tensor(rng.normal(size=(5, 3)), dtype=torch.float32)
        y = torch.as_tensor(rng.normal(size=(6, 2)), dtype=torch.float32)
        c = critic.cross(x, y)
        assert c.shape == (5, 6)
        torch.testing.assert_close(critic.pairs(x, y[:5]), c.diagonal())
    with pytest.raises(ValueError, match="unknown critic"):
        make_critic("bilinear", 1, 1, 4, 1, 2)


@pytest.mark.parametrize("cls", BOUNDS)
def test_save_load_roundtrip(cls, tmp_path):
    x, y = _gaussian_pairs(200, 0.6, seed=0)
    est = cls(1, 1, seed=1, hidden_size=16, max_steps=50).fit(x * 3 + 1, y)
    est.save(tmp_path / "e.pt")
    back = cls.load(tmp_path / "e.pt")
    assert back.mi(x, y) == est.mi(x, y)
    assert back.config() == est.config()
    assert mi_estimators.get(cls.name) is cls


def test_load_rejects_other_estimators_file(tmp_path):
    NWJ(1, 1, hidden_size=4).save(tmp_path / "nwj.pt")
    with pytest.raises(DataError, match="'nwj' estimator, not 'mine'"):
        MINE.load(tmp_path / "nwj.pt")
    with pytest.raises(DataError, match="not found"):
        MINE.load(tmp_path / "missing.pt")


def test_bad_input_and_options(rng):
    with pytest.raises(TypeError, match=r"estimator 'infonce' does not take the options \['tau'\]"):
        InfoNCE(1, 1, tau=3.0)
    with pytest.raises(ValueError, match="dim"):
        InfoNCE(2, 2).mi(rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        InfoNCE(1, 1).mi(np.zeros((1, 1)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="tau"):
        SMILE(1, 1, tau=0.0)


@pytest.mark.parametrize("cls", [NWJ, MINE, SMILE])
def test_weighted_bound_is_the_resample_with_copies_never_their_own_negatives(cls, rng):
    # the bootstrap weights of a resample with duplicates: positives weighted by multiplicity, negatives over
    # pairs of *different* original rows weighted by the product of multiplicities (explicit loops here)
    est = cls(3, 2, hidden_size=16, embed_dim=8, seed=5)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    s = _scores(est, x, y)
    idx = np.array([0, 0, 0, 1, 2, 3, 5, 5, 7, 8, 8, 11])
    w = np.bincount(idx, minlength=12) / 12
    pos = float(np.mean([s[i, i] for i in idx]))
    negs = [(s[i, j], w[i] * w[j]) for i in range(12) for j in range(12) if i != j and w[i] * w[j] > 0]
    vals, wts = np.array([v for v, _ in negs]), np.array([c for _, c in negs])
    if cls is NWJ:
        want = pos - np.sum(wts * np.exp(vals - 1.0)) / wts.sum()
    else:
        clipped = np.clip(vals, -5.0, 5.0) if cls is SMILE else vals
        want = pos - np.log(np.sum(wts * np.exp(clipped)) / wts.sum())
    got = est.mi_weighted(x, y, np.vstack([np.full(12, 1 / 12), w]))
    assert got[0] == pytest.approx(est.mi(x, y), rel=1e-6, abs=1e-7)  # uniform weights: the estimate itself
    assert got[1] == pytest.approx(want, rel=1e-6, abs=1e-7)


def test_infonce_pointwise_and_weighted_resample(rng):
    est = InfoNCE(3, 2, hidden_size=16, embed_dim=8, seed=2)
    with torch.no_grad():
        est.critic.f[-1].weight.mul_(20.0)  # scores of order 1, so the formulas are exercised, not their limits
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    s = _scores(est, x, y)
    assert s.std() > 0.3
    terms = est.pointwise(x, y)
    assert terms == pytest.approx([s[i, i] - np.log(np.mean(np.exp(s[i]))) for i in range(10)], rel=1e-5, abs=1e-6)
    assert terms.mean() == pytest.approx(est.mi(x, y), rel=1e-6)
    idx = np.array([0, 0, 1, 2, 2, 2, 4, 6, 7, 9])
    w = np.bincount(idx, minlength=10)[None, :] / 10
    # the weighted formula is InfoNCE re-estimated on the resample (copies included)
    assert est.mi_weighted(x, y, w)[0] == pytest.approx(est.mi(x[idx], y[idx]), rel=1e-6, abs=1e-6)
