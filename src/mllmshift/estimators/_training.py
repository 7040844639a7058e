"""Training machinery shared by the trained estimators (CLUB, the critic-based bounds, the classifier JSD).

- :func:`seeded_torch`: run with torch's global CPU RNG seeded, restoring it after (no global side effects);
- :func:`default_device`: the given device, else :func:`mllmshift.devices.current_device` (the CPU by default);
- :func:`holdout_split`: a seeded permutation split into held-out and training rows;
- :func:`train_early_stopping`: the loop. ``step()`` trains one unit (an epoch of CLUB, a mini-batch of a
  critic) and returns its loss; every ``eval_every`` units (and after the last) ``validate()`` scores the
  held-out rows; the module's best state is kept, and training stops after ``patience`` evaluations
  without an improvement of more than ``tol``, or at a non-finite loss. Progress goes to a
  :class:`~mllmshift.progress.Progress` task. Before every unit the run's automatic thread choice is re-read
  (:func:`mllmshift.follow_load.refresh`, at most every few seconds), so a long fit gives threads back when
  other processes start, and a fit on a worker thread (:func:`mllmshift.workers.run_tasks`) hands its compute
  slot to a waiting one.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mllmshift.follow_load import refresh as refresh_threads
from mllmshift.progress import Progress
from mllmshift.workers import turn as worker_turn


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Run with torch's global CPU RNG seeded, restoring its state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def default_device(device: str | torch.device | None) -> torch.device:
    """``device`` if given, else the current device of :func:`mllmshift.devices.using_device` (the CPU
    unless a caller chose another)."""
    from mllmshift.devices import current_device

    return torch.device(device if device is not None else current_device())


def holdout_split(n: int, val_fraction: float, seed: int, *, min_val: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(held-out rows, training rows)``: the first round(val_fraction · n) (at least ``min_val``, none for a
    fraction of 0) of a permutation drawn with ``seed``. At least two training rows must remain."""
    n_val = max(min_val, int(round(val_fraction * n))) if val_fraction > 0 else 0
    if n - n_val < 2:
        raise ValueError(f"too few pairs ({n}) to train on and hold out {val_fraction:.0%} for early stopping")
    order = np.random.default_rng(seed).permutation(n)
    return order[:n_val], order[n_val:]


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the module's state."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@dataclass
class TrainLog:
    """What :func:`train_early_stopping` did: per-unit losses, held-out scores, the kept unit."""

    train_curve: list[float] = field(default_factory=list)
    val_curve: list[float] = field(default_factory=list)
    #: the best held-out score (±inf when no evaluation improved on the start)
    best_value: float = math.nan
    #: the unit (1-based) whose state was kept; 0 when none was evaluated
    best_step: int = 0
    steps_run: int = 0
    stopped_by: str = "max_steps"


def train_early_stopping(module: nn.Module, step: Callable[[], float], validate: Callable[[], float] | None, *,
                         max_steps: int, eval_every: int = 1, patience: int = 10, higher_is_better: bool,
                         tol: float = 1e-6, progress: Progress | None = None, desc: str = "fit",
                         unit: str = "step", score: str = "score") -> TrainLog:
    """Train ``module`` with early stopping on ``validate()`` (see the module docstring).

    Without ``validate`` every unit runs and the final state is kept. With it, the state with the best
    held-out score is restored at the end. A non-finite loss from ``step()`` stops training at once (the
    step is expected not to have updated the module then). ``score`` names what ``validate()`` returns in the
    progress note (``best held-out NLL 12.3 at epoch 40``), so a negative log-likelihood reads as progress.
    """
    sign = 1.0 if higher_is_better else -1.0
    log = TrainLog(best_value=-sign * math.inf)
    best_score = -math.inf
    best_state = snapshot(module)
    bad = 0
    task = progress.task(desc, max_steps, unit) if progress is not None else None
    try:
        for k in range(1, max_steps + 1):
            module.train()
            refresh_threads()  # an automatic thread choice follows the load between units (mllmshift.follow_load)
            worker_turn()  # a fit on a worker thread hands its slot on if another waits (mllmshift.workers)
            loss = step()
            if not math.isfinite(loss):
                log.stopped_by = "non-finite loss"
                break
            log.train_curve.append(loss)
            log.steps_run = k
            if task is not None:
                task.advance()
            if validate is None or (k % eval_every and k != max_steps):
                continue
            module.eval()
            v = float(validate())
            log.val_curve.append(v)
            if math.isfinite(v) and sign * v > best_score + tol:
                best_score, log.best_value, log.best_step, bad = sign * v, v, k, 0
                best_state = snapshot(module)
                if task is not None:
                    task.note(f"best held-out {score} {v:.4g} at {unit} {k}")
            else:
                bad += 1
                if bad >= patience:
                    log.stopped_by = "early stopping"
                    break
    finally:
        if task is not None:
            task.close()
    if validate is not None:
        module.load_state_dict(best_state)
    module.eval()
    return log
