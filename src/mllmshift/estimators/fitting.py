"""Fitting the shared MI estimator (or an ensemble of them) on the pooled pairs of every split.

EMI compares I(X; Ŷ) and I(X; Y) with *one* estimator, so it is fitted on the
pooled pairs of every split: all (X, Ŷ) pairs and all (X, Y) pairs. An ensemble
of K estimators is K fits on the same pairs with the seeds of :func:`member_seeds`.

**Held out by default** (``folds``, :data:`DEFAULT_FOLDS`): a trained estimator (the critics, CLUB) evaluated on
the pairs it was fitted on has memorised them and reports more than the data support (SMILE fitted and scored
on LLaVA-Bench's 90 pairs gave I(X;Ŷ) = 9.13 nats, above ln 90 = 4.50). With ``folds`` = F ≥ 2 each ensemble
member is a :class:`~mllmshift.estimators.mi.crossfit.CrossFitMI` of F fits, grouped by **sample id** (every
version of an item, ID and shifted, answer and reference, falls in one fold: :func:`pooled_groups`), so every
pair is scored by a fit that saw neither it nor any other version of its item. ``folds`` = 0 fits on all pairs
and scores in-sample (the former behaviour); estimators that are not trained (KSG, Gaussian) are never wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mllmshift.vocab import DEFAULT_FOLDS
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator
from mllmshift.progress import Progress
from mllmshift.provenance import derive_seed
from mllmshift.sources import ArraySource, ConcatSource, EmbeddingSource


def pooled_pairs(splits: Sequence[EmbeddedSplit]) -> tuple[Any, Any]:
    """Stack (X, Ŷ) and, where a split has references, (X, Y) pairs of all splits: arrays, or
    :class:`~mllmshift.sources.ConcatSource` objects (nothing read) when any part is a source."""
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
    if any(isinstance(a, EmbeddingSource) for a in (*xs, *ys)):
        wrap = lambda a: a if isinstance(a, EmbeddingSource) else ArraySource(a)  # noqa: E731
        return ConcatSource([wrap(a) for a in xs]), ConcatSource([wrap(a) for a in ys])
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def pooled_groups(splits: Sequence[EmbeddedSplit]) -> list[str]:
    """The sample id of every pooled pair, in :func:`pooled_pairs` order.

    Splits of one study share ids for the same item (its ID and shifted versions), so these are the groups a
    cross-fitted estimator keeps together in one fold (``CrossFitMI.fit(x, y, groups=...)``: :func:`fit_members`
    and the real-data suite's ``crossfit-items``).
    """
    out: list[str] = []
    for s in splits:
        if s.response is not None:
            out += list(s.ids)
        if s.reference is not None:
            out += list(s.ids)
    return out




def member_seeds(seed: int, n_estimators: int) -> list[int]:
    """The seeds of an ensemble's members: ``seed`` itself for one, ``derive_seed(seed, "estimator", k)`` for k < K."""
    if n_estimators < 1:
        raise ValueError(f"n_estimators must be at least 1, got {n_estimators}")
    return [seed] if n_estimators == 1 else [derive_seed(seed, "estimator", k) for k in range(n_estimators)]


def fit_estimator(splits: Sequence[EmbeddedSplit], name: str | None = None, seed: int = 0,
                  progress: Progress | None = None, *, crossfit_folds: int = DEFAULT_FOLDS,
                  **options: Any) -> MIEstimator:
    """Create the registered estimator ``name`` (default: :data:`~mllmshift.vocab.DEFAULT_MI_ESTIMATOR`; its
    registry entry's default options under those given, :meth:`mllmshift.registry.Registry.options`) and fit it on
    the pooled pairs of ``splits``, cross-fitted over ``crossfit_folds`` (0: in-sample). One estimator;
    :func:`fit_ensemble` fits the default ensemble."""
    return fit_ensemble(splits, name, 1, seed, progress, crossfit_folds=crossfit_folds, **options)[0]


def fit_ensemble(splits: Sequence[EmbeddedSplit], name: str | None = None, n_estimators: int | None = None,
                 seed: int = 0, progress: Progress | None = None, *, crossfit_folds: int = DEFAULT_FOLDS,
                 **options: Any) -> tuple[MIEstimator, ...]:
    """``n_estimators`` (default :data:`~mllmshift.vocab.DEFAULT_N_ESTIMATORS`) fits of the registered estimator
    ``name`` (options and ``crossfit_folds`` as :func:`fit_estimator`) on the same pooled pairs (seeds:
    :func:`member_seeds`)."""
    from mllmshift.estimators import mi_estimators
    from mllmshift.vocab import DEFAULT_MI_ESTIMATOR, DEFAULT_N_ESTIMATORS

    name = name or DEFAULT_MI_ESTIMATOR
    cls = mi_estimators.get(name)
    k = DEFAULT_N_ESTIMATORS if n_estimators is None else n_estimators
    return fit_members(cls, splits, k, seed, progress, crossfit_folds=crossfit_folds,
                       **mi_estimators.options(name, options))


def held_out(cls: type[MIEstimator], folds: int) -> bool:
    """Whether :func:`fit_members` cross-fits members of ``cls`` with ``folds``: F ≥ 2 and a trained estimator
    (or ``cls`` is the cross-fitted estimator itself)."""
    from mllmshift.estimators.mi.crossfit import CrossFitMI, crossfittable

    return cls is CrossFitMI or (folds >= 2 and crossfittable(cls))


def fit_members(cls: type[MIEstimator], splits: Sequence[EmbeddedSplit], n_estimators: int, seed: int,
                progress: Progress | None = None, *, crossfit_folds: int = 0,
                **options: Any) -> tuple[MIEstimator, ...]:
    """``n_estimators`` estimators of class ``cls`` fitted on the pooled pairs of ``splits``; with
    ``crossfit_folds`` F ≥ 2 (and a trained ``cls``) each is cross-fitted over F folds of the sample ids
    (module docstring). ``cls`` the cross-fitted estimator itself takes its ``folds`` option, else F; with F < 2
    it keeps its own grouping (each distinct input row a group)."""
    folds = crossfit_folds
    from mllmshift.estimators.mi.club import CLUB
    from mllmshift.estimators.mi.crossfit import CrossFitMI
    from mllmshift.workers import run_tasks

    x, y = pooled_pairs(splits)
    dims = (x.shape[1], y.shape[1])
    seeds = member_seeds(seed, n_estimators)
    if not held_out(cls, folds) or (cls is CrossFitMI and folds < 2):  # crossfit named alone: folds by input row
        built = [cls(*dims, seed=s, **options) for s in seeds]  # built here: construction seeds torch's global RNG
        if issubclass(cls, CLUB) and isinstance(x, np.ndarray):  # CLUB fits share nothing: worker threads
            return tuple(run_tasks([lambda m=m: m.fit(x, y, progress=progress) for m in built]))
        return tuple(m.fit(x, y, progress=progress) for m in built)
    groups = pooled_groups(splits)
    if cls is CrossFitMI:
        members = [CrossFitMI(*dims, seed=s, **{**({"folds": folds} if folds >= 2 else {}), **options})
                   for s in seeds]
    else:
        members = [CrossFitMI(*dims, base=cls.name, folds=folds, seed=s, **options) for s in seeds]
    return tuple(m.fit(x, y, progress=progress, groups=groups) for m in members)


def check_fits(estimator: MIEstimator, split: EmbeddedSplit, source: str, hint: str) -> None:
    """Raise when a loaded ``estimator`` takes other dimensions than ``split``'s X and answers.

    Estimators without fixed dimensions (:attr:`~MIEstimator.dims` None, e.g. KSG before a fit) fit anything.
    """
    from mllmshift.errors import MllmshiftError

    y = split.response if split.response is not None else split.reference
    have = (split.x.shape[1], y.shape[1] if y is not None else None)
    want = tuple(h if w is None else w for w, h in zip(estimator.dims, have))
    if want != have:
        raise MllmshiftError(f"the estimator {source} takes {want[0]}-d inputs and {want[1]}-d answers but the "
                             f"embeddings are {have[0]}-d and {have[1]}-d; {hint}")
