"""The reference CLUB fit: :meth:`CLUB.fit` as of 98ea709, the loss through autograd.

Kept as the oracle that the closed-form training step (:mod:`mllmshift.estimators.mi.club_training`) is
checked against (``tests/estimators/test_club_training.py``: a whole fit ends on the same epoch, within 1e-4
relative) and timed against (``benchmarks/club_fit.py``). Not used by the package itself.

The loop: a hold-out split of the pairs (:func:`~mllmshift.estimators._training.holdout_split`), a gather of
each mini-batch (:meth:`Rows.batch`), the mean negative log-likelihood per pair through autograd,
:class:`~mllmshift.estimators._adam.Adam` over the network's eight parameter tensors, and early stopping on
the held-out NLL (summed in float64 over chunks of ``chunk_size`` rows).
"""

from __future__ import annotations

from typing import Any

from mllmshift.estimators.mi.club import CLUB


def autograd_fit(est: CLUB, x: Any, y: Any) -> CLUB:
    """Fit ``est`` in place with the autograd loop; ``est.history`` gets ``train_nll``, ``val_nll`` (per
    epoch), ``best_epoch`` (0-based) and ``epochs_run``, as :meth:`CLUB.fit` records them."""
    import torch

    from mllmshift.estimators._adam import Adam
    from mllmshift.estimators._batches import Rows
    from mllmshift.estimators._training import holdout_split, train_early_stopping
    from mllmshift.estimators.base import check_pairs

    xa, ya = check_pairs(x, y)
    cfg = est.cfg
    val_idx, tr_idx = holdout_split(len(xa), cfg.val_fraction, cfg.seed)
    train, val = Rows([xa, ya], tr_idx, est.device), Rows([xa, ya], val_idx, est.device)
    opt = Adam(est.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    tgen = torch.Generator().manual_seed(cfg.seed)

    def epoch() -> float:
        perm = torch.randperm(len(train), generator=tgen)
        total = 0.0
        for start in range(0, len(train), cfg.batch_size):
            xb, yb = train.batch(perm[start : start + cfg.batch_size])
            loss = est._nll(xb, yb).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(xb)
        return total / len(train)

    def held_out() -> float:
        with torch.no_grad():
            return sum(float(est._nll(xb, yb).sum(dtype=torch.float64))
                       for xb, yb in val.chunks(cfg.chunk_size)) / len(val)

    log = train_early_stopping(est.net, epoch, held_out if len(val_idx) else None, max_steps=cfg.max_epochs,
                               patience=cfg.patience, higher_is_better=False)
    est.history = {"train_nll": log.train_curve, "val_nll": log.val_curve, "best_epoch": log.best_step - 1,
                   "epochs_run": log.steps_run}
    return est
