"""The shared training loop: early stopping, the kept state, non-finite losses, held-out splits."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
import torch

from mllmshift.estimators._training import holdout_split, seeded_torch, train_early_stopping
from mllmshift.progress import LineProgress


def _scripted(values: list[float], losses: list[float] | None = None):
    """A one-weight module whose weight counts the steps, a step() and a validate() that replay ``values``."""
    module = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.zero_()
    losses = losses or [1.0] * 100
    state = {"k": 0}

    def step() -> float:
        loss = losses[state["k"]]
        if math.isfinite(loss):
            with torch.no_grad():
                module.weight += 1.0
        state["k"] += 1
        return loss

    def validate() -> float:
        return values[int(module.weight.item()) - 1]

    return module, step, validate


def test_stops_after_patience_and_restores_the_best_state():
    # held-out loss (lower is better): best at step 3, then 3 evaluations without improvement
    module, step, validate = _scripted([5.0, 4.0, 3.0, 3.5, 3.0, 4.0, 1.0])
    log = train_early_stopping(module, step, validate, max_steps=10, patience=3, higher_is_better=False)
    assert log.stopped_by == "early stopping" and log.steps_run == 6 and log.best_step == 3
    assert log.best_value == 3.0 and log.val_curve == [5.0, 4.0, 3.0, 3.5, 3.0, 4.0]
    assert module.weight.item() == 3.0  # the state after step 3 is kept


def test_an_improvement_must_exceed_the_tolerance():
    module, step, validate = _scripted([1.0, 1.0 + 1e-7, 1.0 + 2e-6])
    log = train_early_stopping(module, step, validate, max_steps=3, patience=5, higher_is_better=True, tol=1e-6)
    assert log.best_step == 3 and log.stopped_by == "max_steps"


def test_evaluates_every_k_steps_and_after_the_last():
    module, step, validate = _scripted([float(v) for v in range(1, 20)])
    log = train_early_stopping(module, step, validate, max_steps=7, eval_every=3, higher_is_better=True)
    assert log.val_curve == [3.0, 6.0, 7.0] and log.best_step == 7


def test_a_non_finite_loss_stops_without_counting_the_step():
    module, step, validate = _scripted([1.0, 2.0, 3.0], losses=[1.0, 1.0, math.nan, 1.0])
    log = train_early_stopping(module, step, validate, max_steps=4, higher_is_better=True)
    assert log.stopped_by == "non-finite loss" and log.steps_run == 2 and log.train_curve == [1.0, 1.0]
    assert module.weight.item() == 2.0


def test_without_validation_every_step_runs_and_the_last_state_stays():
    module, step, _ = _scripted([0.0] * 5)
    log = train_early_stopping(module, step, None, max_steps=5, higher_is_better=False)
    assert log.steps_run == 5 and log.val_curve == [] and log.best_step == 0 and module.weight.item() == 5.0


def test_progress_reports_one_line_when_not_a_terminal():
    buf = io.StringIO()
    module, step, validate = _scripted([float(v) for v in range(20)])
    train_early_stopping(module, step, validate, max_steps=20, higher_is_better=True, progress=LineProgress(buf),
                         desc="fit test", unit="step", score="MI bound (nats)")
    lines = buf.getvalue().splitlines()
    # the note names the score and where it was reached, so a negative NLL or bound reads as progress
    assert len(lines) == 1 and lines[0].startswith("fit test: 20/20 step (best held-out MI bound (nats) 19 at step 20)")
    assert re.search(r", \d+\.\d s$", lines[0])


def test_holdout_split_is_a_seeded_partition():
    val, tr = holdout_split(50, 0.2, seed=3)
    assert len(val) == 10 and len(tr) == 40 and sorted(np.concatenate([val, tr])) == list(range(50))
    np.testing.assert_array_equal(np.concatenate([val, tr]), np.random.default_rng(3).permutation(50))
    assert len(holdout_split(5, 0.1, 0, min_val=2)[0]) == 2
    assert len(holdout_split(5, 0.0, 0)[0]) == 0
    with pytest.raises(ValueError, match="too few pairs"):
        holdout_split(3, 0.5, 0, min_val=2)


def test_seeded_torch_restores_the_global_generator():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded_torch(5):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), expected)
    with seeded_torch(5):
        assert torch.equal(torch.rand(3), inside)
