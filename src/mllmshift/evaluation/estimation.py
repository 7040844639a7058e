"""Step 2 of the pipeline: the MI estimator(s), loaded from a saved estimator or fitted on the pooled pairs.

An :class:`Ensemble` is the fitted estimators (one, or ``n_estimators`` with seeds
``derive_seed(seed, "estimator", k)``) and what results record about them: among it the fit's
**fingerprint** and its **fitting set** (:mod:`mllmshift.evaluation.artifact`). Without a saved estimator
(``cfg.checkpoint``, the ``--estimator-file`` flag) they are fitted on the pooled (X, Ŷ) and (X, Y) pairs of
every split of the call whose X is built like the ID's (:func:`estimator_pool`), so the values are relative
to that call's fit; results say so (``fit_set.declared`` false).

:func:`estimator_step` is the one way in, for the pipeline, the study (through its sealed store) and the
monitor (through its window store): the store only decides whether fitted members are kept and read back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mllmshift.components import build_component, component_class
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import DivergenceEstimator, MIEstimator
from mllmshift.evaluation.artifact import (
    FitSet,
    check_encoders,
    encoder_prints,
    estimator_spec,
    fit_fingerprint,
    load_estimator_file,
)
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.embedding import comparable
from mllmshift.evaluation.stores import NullStore, Store
from mllmshift.progress import Progress
from mllmshift.provenance import stable_hash


@dataclass(frozen=True)
class Ensemble:
    """The fitted (or loaded) estimators and what results record about them."""

    members: tuple[MIEstimator, ...]
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return str(self.info.get("fingerprint") or self.info.get("key"))


def estimator_pool(embedded: Sequence[EmbeddedSplit]) -> list[EmbeddedSplit]:
    """The splits whose pairs train the estimator: every split comparable with the first (the ID split)."""
    return [e for e in embedded if comparable(embedded[0], e)]


def content_key(e: EmbeddedSplit) -> str:
    """A content key for an embedded split when no encoder key is at hand: a hash of its arrays' bytes."""
    import hashlib

    import numpy as np

    parts = [e.name, len(e)] + [None if a is None else hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
                                for a in (e.x, e.response, e.reference)]
    return stable_hash(parts, 24)


def trained_info(members: Sequence[MIEstimator], pool: Sequence[EmbeddedSplit], key: str | None,
                 fit_set: FitSet | None = None) -> dict[str, Any]:
    """What results record about fitted estimators: the fingerprint and fitting set, configs, fit summaries, the
    splits and pairs they saw."""
    fit_set = fit_set or FitSet(" + ".join(e.name for e in pool), tuple({"name": e.name, "n": len(e)} for e in pool),
                                False)
    first = _base_of(members[0])
    return {"source": "trained", "key": key, "fingerprint": key, "fit_set": fit_set.to_dict(),
            "config": {**first.config(), "seed": getattr(members[0], "seed", first.config().get("seed"))},
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


def load_estimators(cfg: EvalConfig, id_e: EmbeddedSplit, encoders: Mapping[str, Any] | None = None) -> Ensemble:
    """The estimator(s) saved at ``cfg.checkpoint`` (an archive of ``mllmshift fit``, or a single estimator file
    of any kind), checked against the run's encoders (``encoders``: :meth:`Encoders.info`) and the ID's dims."""
    from mllmshift.estimators.fitting import check_fits

    assert cfg.checkpoint is not None
    art = load_estimator_file(cfg.checkpoint)
    if encoders is not None:
        check_encoders(art, encoder_prints(encoders, [id_e]), id_e.metadata.get("visual_source") == "image")
    for est in art.members:
        check_fits(est, id_e, f"at {cfg.checkpoint}", "use the encoders it was trained on")
    return Ensemble(art.members, art.info())


def fit_estimators(pool: Sequence[EmbeddedSplit], cfg: EvalConfig, progress: Progress | None = None) -> Ensemble:
    """``cfg.n_estimators`` estimators fitted on the pooled pairs of ``pool`` (kept nowhere)."""
    return estimator_step(pool, cfg, NullStore(), progress, all_comparable=True)


def estimator_step(embedded: Sequence[EmbeddedSplit], cfg: EvalConfig, store: Store,
                   progress: Progress | None = None, *, keys: Mapping[str, str] | None = None,
                   encoders: Mapping[str, Any] | None = None, fit_set_name: str | None = None,
                   declared: bool = False, all_comparable: bool = False,
                   say: Callable[[str], None] | None = None) -> Ensemble:
    """Load ``cfg.checkpoint``, or fit ``cfg.n_estimators`` on the pooled pairs of the splits comparable with
    the first (all of them with ``all_comparable``), through ``store`` (read back when it kept this fit).

    ``keys``: content keys per split name (:meth:`Encoders.key`; default: hashes of the arrays);
    ``encoders``: :meth:`Encoders.info` (checked against a saved estimator's, and part of the fingerprint);
    ``fit_set_name`` / ``declared``: name the fitting set (``mllmshift fit``'s declared one); ``say``: where the
    line announcing a fit goes (default: the progress stream)."""
    if cfg.checkpoint is not None:
        with store.timed("estimator"):
            ensemble = load_estimators(cfg, embedded[0], encoders)
        store.log.hit("estimator", True)
        return ensemble
    pool = list(embedded) if all_comparable else estimator_pool(embedded)
    keys = dict(keys) if keys is not None else {e.name: content_key(e) for e in pool}
    spec = estimator_spec(cfg.estimator.name, cfg.estimator.options, cfg.n_estimators, cfg.seed, cfg.folds)
    fp = fit_fingerprint(spec, encoder_prints(encoders or {}, pool), [keys[e.name] for e in pool])
    cls = component_class("mi-estimator", cfg.estimator.name, allowed=cfg.plugins)

    def fit() -> tuple[MIEstimator, ...]:
        from mllmshift.estimators.fitting import fit_members

        tell = say or (None if progress is None else progress.say)
        if tell is not None:
            tell(f"fitting the MI estimator: {cfg.n_estimators} × {cfg.estimator.name} on the pooled pairs of "
                 + (f"{len(pool)} split(s)" if fit_set_name is None else fit_set_name))
        return fit_members(cls, pool, cfg.n_estimators, cfg.seed, progress, crossfit_folds=cfg.folds,
                           **dict(cfg.estimator.options))

    with store.timed("estimator"):
        members = store.estimators(fp, cfg.n_estimators, cls, fit)
    fit_set = FitSet.of(pool, keys, name=fit_set_name, declared=declared)
    info = trained_info(members, pool, fp, fit_set)
    if encoders:
        info["encoders"] = encoder_prints(encoders, pool)
    info["fitted_with"] = spec
    return Ensemble(members, info)


def get_estimators(embedded: Sequence[EmbeddedSplit], cfg: EvalConfig, progress: Progress | None = None) -> Ensemble:
    """:func:`estimator_step` with no store: load ``cfg.checkpoint``, or fit on the comparable splits' pairs."""
    return estimator_step(embedded, cfg, NullStore(), progress)


def build_divergence(cfg: EvalConfig) -> DivergenceEstimator:
    """The bound's divergence estimator, seeded with the config's seed."""
    return build_component("divergence", cfg.divergence, allowed=cfg.plugins, seed=cfg.seed)
