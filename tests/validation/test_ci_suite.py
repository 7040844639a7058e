"""The CI-size validation suite end to end: every estimator on small ground-truth tasks (about a minute)."""

from __future__ import annotations

import math

import pytest

from mllmshift.validation.presets import ci
from mllmshift.validation.suite import run_suite


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")  # torch and BLAS on one thread, restored after (was: torch's, never restored)
def test_ci_preset_runs_and_estimates_are_sane(tmp_path):
    grid = ci()
    summary = run_suite(grid, tmp_path, label="ci", progress=False, make_plot=False)
    assert (tmp_path / "validation.md").is_file()
    by = {(r["estimator"], r["task"]): r for r in summary}
    # every configured (estimator, task) ran on both seeds without error
    assert all(r["failed"] == 0 and r["runs"] == 2 for r in summary)
    assert len(summary) == 9 * 4 + 3 * 3 + 1 * 3
    # bivariate normal, ρ = 0.75, I = 0.413, n = 200: every estimator but CLUB (an upper bound that
    # is loose even when well fitted, and under-trained by the CI settings) lands within 0.15 (≈ 2 sd)
    for est in ("infonce", "nwj", "mine", "smile", "ksg", "gaussian", "gaussian-copula"):
        assert by[(est, "normal-1x1")]["bias"] == pytest.approx(0.0, abs=0.15), est
    # InfoNCE never exceeds ln n (evaluated with all n − 1 negatives)
    assert all(r["mean"] <= math.log(200) for r in summary if r["estimator"] == "infonce")
    # JSD: identical distributions → ≈ 0 for every estimator; orthogonal supports → ln 2 for linear RJSD
    for est in ("rjsd", "rjsd-rff", "classifier-jsd"):
        assert by[(est, "identical-5d")]["mean"] < 0.05, est
    assert by[("rjsd", "orthogonal-16in64")]["mean"] == pytest.approx(math.log(2), abs=1e-9)
    # the MMD test rejects P = Q when P ≠ Q and not when P = Q (100 permutations, 2 seeds)
    assert by[("mmd", "gauss-mean-5d")]["rejection_rate"] == 1.0
    assert by[("mmd", "orthogonal-16in64")]["rejection_rate"] == 1.0
    assert by[("mmd", "identical-5d")]["rejection_rate"] == 0.0
