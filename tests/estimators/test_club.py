"""CLUB: closed-form negative term vs the naive n×n×d formula, the authors' checkpoint, a Gaussian oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mllmshift.errors import DataError
from mllmshift.estimators.mi.club import CLUB


def _naive_club(mu: np.ndarray, logvar: np.ndarray, y: np.ndarray) -> float:
    """The reference code's formula, with its n × n × d tensor."""
    var = np.exp(logvar)
    positive = -((mu - y) ** 2) / 2.0 / var
    negative = -(((y[None, :, :] - mu[:, None, :]) ** 2).mean(axis=1)) / 2.0 / var
    return float((positive.sum(-1) - negative.sum(-1)).mean())


def _heads_numpy(state: dict[str, torch.Tensor], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An independent numpy forward pass of the two heads from a raw state dict."""
    w = {k: v.double().numpy() for k, v in state.items()}
    h_mu = np.tanh(x @ w["p_mu.0.weight"].T + w["p_mu.0.bias"])
    mu = h_mu @ w["p_mu.2.weight"].T + w["p_mu.2.bias"]
    h_lv = np.tanh(x @ w["p_logvar.0.weight"].T + w["p_logvar.0.bias"])
    logvar = np.tanh(h_lv @ w["p_logvar.2.weight"].T + w["p_logvar.2.bias"])
    return mu, logvar


def test_closed_form_matches_naive_formula(rng):
    club = CLUB(6, 5, hidden_size=32, seed=3)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 5))
    mu, logvar = _heads_numpy(club.net.state_dict(), x)
    assert club.mi(x, y) == pytest.approx(_naive_club(mu, logvar, y), rel=1e-5)


def test_chunking_does_not_change_the_estimate(rng):
    a = CLUB(4, 4, hidden_size=16, seed=1)
    b = CLUB(4, 4, hidden_size=16, seed=1, chunk_size=7)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    # the network runs in float32: batch shapes change its rounding at ~1e-8, far below 1e-6
    assert a.mi(x, y) == pytest.approx(b.mi(x, y), rel=1e-6)
    assert a.mi_many(x, [y, x]) == pytest.approx([b.mi(x, y), b.mi(x, x)], rel=1e-6)


def test_weighted_estimate_equals_estimate_on_resample(rng):
    club = CLUB(3, 3, hidden_size=16, seed=0)
    x, y = rng.normal(size=(25, 3)), rng.normal(size=(25, 3))
    idx = rng.integers(0, 25, size=25)
    w = np.bincount(idx, minlength=25)[None, :] / 25
    # mi() works in float32 element-wise (float64 sums), mi_weighted in float64: agree to float32 precision
    assert club.mi_weighted(x, y, w)[0] == pytest.approx(club.mi(x[idx], y[idx]), rel=1e-5)


@pytest.mark.shared
def test_authors_checkpoint_reproduces_their_function(shared_data):
    path = shared_data / "checkpoints" / "club_llavabench_global.pt"
    club = CLUB.load(path)
    assert (club.cfg.x_dim, club.cfg.y_dim, club.cfg.hidden_size) == (768, 768, 500)
    state = torch.load(path, weights_only=True, map_location="cpu")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 768))
    y = rng.normal(size=(64, 768))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    mu, logvar = _heads_numpy(state, x)
    assert club.mi(x, y) == pytest.approx(_naive_club(mu, logvar, y), rel=1e-5)
    mu_c, inv_c = club.conditional(x)
    np.testing.assert_allclose(mu_c, mu, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(inv_c, np.exp(-logvar), rtol=1e-4)


def test_gaussian_population_value():
    r"""CLUB converges to its own population value, which upper-bounds the true MI.

    Model: X ~ N(0, I_d), Y = ρX + √(1−ρ²) ε, ε ~ N(0, I_d). The true conditional is
    q*(y|x) = N(ρx, s² I) with s² = 1 − ρ² (inside the Tanh-limited variance range
    (e⁻¹, e) for ρ = 0.5), so a well-fitted q equals it. Then per dimension

    * E_{p(x,y)}[(y − ρx)²] = s²            (positive pairs)
    * E_{p(x)p(y)}[(y − ρx)²] = 1 + ρ²       (independent pairs)

    and CLUB = Σ_d [−s²/(2s²) + (1+ρ²)/(2s²)] = d · ρ²/(1−ρ²),
    whereas I(X;Y) = −(d/2) ln(1−ρ²). For d = 4, ρ = 0.5: CLUB = 4/3 ≈ 1.333, MI ≈ 0.575.
    CLUB is an upper bound, not MI itself; we check the estimate is within 10% of 4/3.
    """
    torch.set_num_threads(1)
    d, rho = 4, 0.5
    rng = np.random.default_rng(0)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, d))
        return x, rho * x + math.sqrt(1 - rho**2) * rng.normal(size=(n, d))

    x, y = sample(6000)
    club = CLUB(d, d, hidden_size=64, seed=0, lr=3e-3, batch_size=256, max_epochs=60, patience=8).fit(x, y)
    xt, yt = sample(20000)
    population = d * rho**2 / (1 - rho**2)
    true_mi = -d / 2 * math.log(1 - rho**2)
    assert population >= true_mi
    assert club.mi(xt, yt) == pytest.approx(population, rel=0.10)
    # independent pairs carry no information: the estimate collapses towards 0
    assert abs(club.mi(xt, yt[rng.permutation(len(yt))])) < 0.1


def test_fit_is_reproducible_for_a_seed(rng):
    x = rng.normal(size=(300, 3))
    y = x + 0.5 * rng.normal(size=(300, 3))
    a = CLUB(3, 3, hidden_size=16, seed=5, max_epochs=5).fit(x, y)
    b = CLUB(3, 3, hidden_size=16, seed=5, max_epochs=5).fit(x, y)
    c = CLUB(3, 3, hidden_size=16, seed=6, max_epochs=5).fit(x, y)
    assert a.mi(x, y) == b.mi(x, y)
    assert a.mi(x, y) != c.mi(x, y)
    assert a.history["epochs_run"] == 5 and len(a.history["val_nll"]) == 5


def test_construction_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    CLUB(5, 5, hidden_size=8, seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_save_load_roundtrip(tmp_path, rng):
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
    a = CLUB(3, 3, hidden_size=16, seed=2, max_epochs=3).fit(x, y)
    a.save(tmp_path / "club.pt")
    b = CLUB.load(tmp_path / "club.pt")
    assert b.config() == a.config()
    assert b.mi(x, y) == a.mi(x, y)


def test_raw_state_dict_loads(tmp_path, rng):
    a = CLUB(7, 3, hidden_size=10, seed=4)
    torch.save(a.net.state_dict(), tmp_path / "raw.pt")
    b = CLUB.load(tmp_path / "raw.pt")
    assert (b.cfg.x_dim, b.cfg.y_dim, b.cfg.hidden_size) == (7, 3, 10)
    x, y = rng.normal(size=(9, 7)), rng.normal(size=(9, 3))
    assert b.mi(x, y) == a.mi(x, y)


def test_bad_inputs(tmp_path, rng):
    club = CLUB(3, 3, hidden_size=8)
    with pytest.raises(ValueError, match="dim 3"):
        club.mi(rng.normal(size=(5, 4)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="same number of rows"):
        club.mi(rng.normal(size=(5, 3)), rng.normal(size=(6, 3)))
    with pytest.raises(DataError, match="not found"):
        CLUB.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt"):
        CLUB.load(tmp_path / "junk.pt")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a CLUB checkpoint"):
        CLUB.load(tmp_path / "other.pt")
