"""Fitting one shared MI estimator for a study.

EMI compares I(X; Ŷ) and I(X; Y) with *one* estimator, so it is fitted on the
pooled pairs of every split: all (X, Ŷ) pairs and all (X, Y) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator


def pooled_pairs(splits: Sequence[EmbeddedSplit]) -> tuple[np.ndarray, np.ndarray]:
    """Stack (X, Ŷ) and, where a split has references, (X, Y) pairs of all splits."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for s in splits:
        if s.response is not None:
            xs.append(s.x)
            ys.append(s.response)
        if s.reference is not None:
            xs.append(s.x)
            ys.append(s.reference)
    if not xs:
        raise ValueError("no (input, response) or (input, reference) pairs to fit an estimator on")
    dims = {(x.shape[1], y.shape[1]) for x, y in zip(xs, ys)}
    if len(dims) != 1:
        raise ValueError(f"splits disagree on embedding dimensions {sorted(dims)}; embed them with the same encoders")
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def pooled_groups(splits: Sequence[EmbeddedSplit]) -> list[str]:
    """The sample id of every pooled pair, in :func:`pooled_pairs` order.

    Splits of one study share ids for the same item (its ID and shifted versions), so these are the groups a
    cross-fitted estimator keeps together in one fold.
    """
    out: list[str] = []
    for s in splits:
        if s.response is not None:
            out += list(s.ids)
        if s.reference is not None:
            out += list(s.ids)
    return out


def fit_estimator(splits: Sequence[EmbeddedSplit], name: str | None = None, seed: int = 0, progress: bool = False,
                  **options: Any) -> MIEstimator:
    """Create the registered estimator ``name`` (default: :data:`~mllmshift.estimators.DEFAULT_MI_ESTIMATOR`) and
    fit it on the pooled pairs of ``splits``."""
    from mllmshift.estimators import DEFAULT_MI_ESTIMATOR, mi_estimators

    name = name or DEFAULT_MI_ESTIMATOR
    x, y = pooled_pairs(splits)
    cls = mi_estimators.get(name)
    try:
        est = cls(x_dim=x.shape[1], y_dim=y.shape[1], seed=seed, **options)  # type: ignore[call-arg]
    except TypeError as err:  # an option the estimator does not take
        from mllmshift.errors import MllmshiftError

        raise MllmshiftError(f"estimator '{name}' does not take the options {sorted(options)}: {err}") from None
    return fit_estimator_on(est, splits, progress=progress, pairs=(x, y))


def fit_estimator_on(est: MIEstimator, splits: Sequence[EmbeddedSplit], progress: bool = False,
                     pairs: tuple[np.ndarray, np.ndarray] | None = None) -> MIEstimator:
    """Fit an already constructed ``est`` on the pooled pairs of ``splits`` (or on ``pairs``); returns it.

    A cross-fitted estimator gets the pairs' sample ids as its groups (:func:`pooled_groups`), so every
    version of an item (its ID and shifted splits) falls in one fold and is scored by a member that saw none.
    """
    from mllmshift.estimators.mi.crossfit import CrossFitMI

    x, y = pairs if pairs is not None else pooled_pairs(splits)
    if isinstance(est, CrossFitMI):
        return est.fit(x, y, groups=pooled_groups(splits), progress=progress)
    try:
        est.fit(x, y, progress=progress)  # type: ignore[call-arg]
    except TypeError:
        est.fit(x, y)
    return est


def check_fits(estimator: MIEstimator, split: EmbeddedSplit, source: str, hint: str) -> None:
    """Raise when a loaded ``estimator`` takes other dimensions than ``split``'s X and answers.

    Estimators without fixed dimensions (``cfg.x_dim`` / ``cfg.y_dim`` absent or None, e.g. KSG) fit anything.
    """
    from mllmshift.errors import MllmshiftError

    y = split.response if split.response is not None else split.reference
    have = (split.x.shape[1], y.shape[1] if y is not None else None)
    cfg = getattr(estimator, "cfg", None)
    want = tuple(h if w is None else w for w, h in ((getattr(cfg, "x_dim", None), have[0]),
                                                    (getattr(cfg, "y_dim", None), have[1])))
    if want != have:
        raise MllmshiftError(f"the estimator {source} takes {want[0]}-d inputs and {want[1]}-d answers but the "
                             f"embeddings are {have[0]}-d and {have[1]}-d; {hint}")
