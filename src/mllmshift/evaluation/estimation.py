"""Step 2 of the pipeline: the MI estimator(s), loaded from a checkpoint or fitted on the pooled pairs.

An :class:`Ensemble` is the fitted estimators (one, or ``n_estimators`` with seeds
``derive_seed(seed, "estimator", k)``) and what results record about them. They are fitted on the pooled
(X, Ŷ) and (X, Y) pairs of every split whose X is built like the ID's (:func:`estimator_pool`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mllmshift.components import build_component, component_class
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import DivergenceEstimator, MIEstimator
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.embedding import comparable
from mllmshift.progress import Progress
from mllmshift.provenance import stable_hash


@dataclass(frozen=True)
class Ensemble:
    """The fitted (or loaded) estimators and what results record about them."""

    members: tuple[MIEstimator, ...]
    info: Mapping[str, Any] = field(default_factory=dict)


def estimator_pool(embedded: Sequence[EmbeddedSplit]) -> list[EmbeddedSplit]:
    """The splits whose pairs train the estimator: every split comparable with the first (the ID split)."""
    return [e for e in embedded if comparable(embedded[0], e)]


def estimator_key(cfg: EvalConfig, pool_keys: Sequence[str]) -> str:
    """A hash of everything a fit depends on: estimator, options, K, seed and the pooled splits' contents."""
    return stable_hash([cfg.estimator.name, dict(cfg.estimator.options), cfg.n_estimators, cfg.seed,
                        sorted(pool_keys)] + ([] if cfg.folds == 0 else [cfg.folds]))


def load_estimators(cfg: EvalConfig, id_e: EmbeddedSplit) -> Ensemble:
    """The estimator saved at ``cfg.checkpoint`` (any kind; the file says which), checked against the ID's dims."""
    from mllmshift.estimators.defaults import load_mi_estimator
    from mllmshift.estimators.fitting import check_fits

    assert cfg.checkpoint is not None
    est = load_mi_estimator(cfg.checkpoint)
    check_fits(est, id_e, f"at {cfg.checkpoint}", "use the encoders it was trained on")
    return Ensemble((est,), {"source": "checkpoint", "path": cfg.checkpoint, "key": stable_hash(cfg.checkpoint),
                             "config": est.config(), "members": [est.config()], "history": est.fit_summary()})


def fit_estimators(pool: Sequence[EmbeddedSplit], cfg: EvalConfig, progress: Progress | None = None,
                   key: str | None = None) -> Ensemble:
    """``cfg.n_estimators`` estimators fitted on the pooled pairs of ``pool``."""
    from mllmshift.estimators.fitting import fit_members

    cls = component_class("mi-estimator", cfg.estimator.name, allowed=cfg.plugins)
    members = fit_members(cls, pool, cfg.n_estimators, cfg.seed, progress, crossfit_folds=cfg.folds,
                          **dict(cfg.estimator.options))
    return Ensemble(members, trained_info(members, pool, key))


def trained_info(members: Sequence[MIEstimator], pool: Sequence[EmbeddedSplit], key: str | None) -> dict[str, Any]:
    """What results record about fitted estimators: configs, fit summaries, the splits and pairs they saw."""
    first = _base_of(members[0])
    return {"source": "trained", "key": key, "config": {**first.config(), "seed": getattr(members[0], "seed",
                                                                                       first.config().get("seed"))},
            "members": [m.config() for m in members], "history": first.fit_summary(),
            "member_histories": [m.fit_summary() for m in members], "trained_on": [e.name for e in pool],
            "n_pairs": int(sum((e.response is not None) * len(e) + (e.reference is not None) * len(e) for e in pool)),
            "held_out": held_out_record(members)}


def _base_of(member: MIEstimator) -> MIEstimator:
    """The estimator a result describes: a cross-fitted member's first fit (its base and options; the recorded
    seed is the member's, from which each fold's is derived, and ``held_out`` says how it was cross-fitted), else
    the member itself."""
    from mllmshift.estimators.mi.crossfit import CrossFitMI

    return member.members[0] if isinstance(member, CrossFitMI) else member


def held_out_record(members: Sequence[MIEstimator]) -> dict[str, Any]:
    """Whether the members score pairs they were not fitted on (cross-fitted: folds, groups) or in-sample."""
    from mllmshift.estimators.mi.crossfit import CrossFitMI

    m = members[0]
    if isinstance(m, CrossFitMI):
        return {"scores": "held-out", "folds": m.folds, "base": m.base, "n_groups": m.history.get("n_groups")}
    return {"scores": "in-sample"}


def get_estimators(embedded: Sequence[EmbeddedSplit], cfg: EvalConfig, progress: Progress | None = None) -> Ensemble:
    """Load ``cfg.checkpoint``, or fit ``cfg.n_estimators`` on the pooled pairs of the comparable splits."""
    if cfg.checkpoint is not None:
        return load_estimators(cfg, embedded[0])
    return fit_estimators(estimator_pool(embedded), cfg, progress)


def build_divergence(cfg: EvalConfig) -> DivergenceEstimator:
    """The bound's divergence estimator, seeded with the config's seed."""
    return build_component("divergence", cfg.divergence, allowed=cfg.plugins, seed=cfg.seed)
