r"""The one evaluation pipeline, ``evaluate(plan, store)``: embed → estimator(s) → split and scenario results.

Steps 1 and 2 live in :mod:`~mllmshift.evaluation.embedding` and :mod:`~mllmshift.evaluation.estimation`;
this module holds steps 3 and 4, the records results keep, and :func:`evaluate`, which runs them all for an
:class:`EvalPlan` (the ID split, its scenarios, the config) and assembles the one
:class:`~mllmshift.evaluation.results.StudyResult` every entry point returns.

``mllmshift emi``, ``emid``, ``fit``, the study, the monitor and the Python API all run these steps; they
differ only in the **store** (:mod:`mllmshift.evaluation.stores`) that keeps stage outputs: none for the
API and the one-shot verbs, the sealed ``.state`` for the study (resume, reruns), the state folder for the
monitor's reference estimators. The steps:

1. embed: each split through the configured encoders and the shared content cache
   (:class:`~mllmshift.encoders.cache.EmbeddingCache`, default ``~/.cache/mllmshift``), or read from an
   embedding store on disk; a split with no visual input at all gets ``fusion="text"`` (:func:`split_fusion`);
2. :func:`~mllmshift.evaluation.estimation.estimator_step`: the saved estimator (``cfg.checkpoint``), or
   ``n_estimators`` estimators fitted on the pooled (X, Ŷ) and (X, Y) pairs of every split whose X is built
   like the ID's (:func:`comparable`); either way with the fit's fingerprint and fitting set;
3. :func:`evaluate_split`: EMI with a bootstrap interval, seed ``derive_seed(seed, "emi", split)``;
4. :func:`evaluate_scenario`: the shifted split's EMI, EMID with an interval (seed
   ``derive_seed(seed, "emid", id, scenario)``), the bound and the answer shift JSD(P_Ŷ‖Q_Ŷ). A scenario
   without references, or whose X is built unlike the ID's, is *partial*: it gets the terms that need
   neither (see :class:`~mllmshift.evaluation.results.ScenarioResult`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.encoders.store import EmbeddingStore
from mllmshift.errors import MllmshiftError
from mllmshift.estimators.base import DivergenceEstimator, MIEstimator
from mllmshift.evaluation.checks import check_checkpoint, check_splits
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.embedding import Encoders, comparable, embed_split
from mllmshift.evaluation.estimation import Ensemble, build_divergence, estimator_step
from mllmshift.evaluation.results import ScenarioResult, SplitResult, StudyResult
from mllmshift.evaluation.scenarios import ScenarioSpec
from mllmshift.evaluation.stores import NullStore, Store
from mllmshift.follow_load import following, stage
from mllmshift.metrics import (
    bootstrap_emi,
    bootstrap_emid,
    emi_of,
    emid_from,
    emid_upper_bound,
    output_term,
)
from mllmshift.progress import Progress, tracked
from mllmshift.provenance import derive_seed, environment, stable_hash
from mllmshift.records import Split
from mllmshift.threads import ThreadChoice, choose_threads, thread_limits

SEED_DERIVATION = ("derive_seed(seed, 'emi', split) and derive_seed(seed, 'emid', id, scenario) for the bootstrap; "
                   "derive_seed(seed, 'estimator', k) for ensemble member k of K > 1 (seed itself for K = 1); "
                   "derive_seed = first 8 hex digits of sha256(json)")


# ------------------------------------------------------------------------------------------ 3. splits
def emi_seed(cfg: EvalConfig, split: str) -> int:
    return derive_seed(cfg.seed, "emi", split)


def emid_seed(cfg: EvalConfig, id_name: str, scenario: str) -> int:
    return derive_seed(cfg.seed, "emid", id_name, scenario)


def evaluate_split(e: EmbeddedSplit, members: Sequence[MIEstimator], cfg: EvalConfig) -> SplitResult:
    """EMI of a split with responses and references, and its bootstrap interval."""
    res = emi_of(e, members)
    ci = None
    if cfg.n_resamples > 0:
        ci = bootstrap_emi(e.x, e.response, e.reference, members, cfg.n_resamples,  # type: ignore[arg-type]
                           emi_seed(cfg, e.name), cfg.confidence, cfg.bootstrap_scheme)
    return SplitResult(e.name, len(e), res, ci)


# ------------------------------------------------------------------------------------------ 4. scenarios
class ScenarioContext:
    """What every scenario of one ID split shares: the ID's embeddings and result, the estimators, the
    divergence and the ID output term JSD(P_Ŷ‖P_Y) (computed once, when the first scenario needs it)."""

    def __init__(self, id_e: EmbeddedSplit, id_result: SplitResult, members: Sequence[MIEstimator],
                 cfg: EvalConfig) -> None:
        self.id_e, self.id_result, self.members, self.cfg = id_e, id_result, tuple(members), cfg
        self._divergence: DivergenceEstimator | None = None
        self._id_output: tuple[tuple[float, str] | None] | None = None

    @property
    def divergence(self) -> DivergenceEstimator:
        if self._divergence is None:
            self._divergence = build_divergence(self.cfg)
        return self._divergence

    @property
    def id_output(self) -> tuple[float, str] | None:
        if self._id_output is None:
            self._id_output = (output_term(self.id_e, self.divergence),)
        return self._id_output[0]


def evaluate_scenario(spec: ScenarioSpec, e: EmbeddedSplit, ctx: ScenarioContext) -> ScenarioResult:
    """The shifted split ``e`` against the ID split (see the module docstring)."""
    cfg, id_e = ctx.cfg, ctx.id_e
    scale = cfg.entropy_scale if cfg.bound_form == "theorem" else None
    same_x = comparable(id_e, e)
    complete = same_x and e.reference is not None and e.response is not None
    notes = list(spec.notes)
    emid = emid_ci = None
    members: tuple[float, ...] = ()
    if complete:
        assert ctx.id_result.emi is not None
        shifted = evaluate_split(e, ctx.members, cfg)
        assert shifted.emi is not None
        d = emid_from(ctx.id_result.emi, shifted.emi)
        emid, members = d.value, d.members
        if cfg.n_resamples > 0:
            emid_ci = bootstrap_emid(id_e, e, ctx.members, cfg.n_resamples, emid_seed(cfg, id_e.name, spec.name),
                                     cfg.confidence, cfg.bootstrap_scheme)
        bound = emid_upper_bound(id_e, e, scale, ctx.divergence, id_output=ctx.id_output)
    else:
        if e.reference is None:
            notes.append("no reference answers: EMI, EMID and JSD(Q_Ŷ‖Q_Y) need them and are not computed")
        if not same_x:
            notes.append("no visual input (or X built differently from the ID split): I(X;Ŷ) and "
                         "JSD(P_Xv‖Q_Xv) are not computed")
        a, b = id_e, e
        if (a.x_visual is None) != (b.x_visual is None):
            a, b = replace(a, x_visual=None), replace(b, x_visual=None)
        bound = emid_upper_bound(a, b, scale, ctx.divergence, id_output=ctx.id_output)
        mi_response = None
        if same_x and e.response is not None:
            mi_response = float(np.mean([m.mi(e.x, e.response) for m in ctx.members]))
        shifted = SplitResult(e.name, len(e), None, None, mi_response)
    jsd_response = None
    if e.response is not None and id_e.response is not None:
        jsd_response = max(float(ctx.divergence.divergence(id_e.response, e.response)), 0.0)
    return ScenarioResult(spec.name, spec.group, spec.kind, len(e), shifted, bound, emid, members, emid_ci,
                          jsd_response, not complete, e.reference is not None, tuple(notes), dict(spec.metadata))


# ------------------------------------------------------------------------------------------ records
def seed_record(cfg: EvalConfig, id_name: str, scenario_names: Sequence[str]) -> dict[str, Any]:
    """Every seed a run used, and how they are derived (a saved estimator's members bring their own: its
    ``estimator.fitted_with`` record says which)."""
    from mllmshift.estimators.fitting import member_seeds

    return {"global": cfg.seed, "estimator": member_seeds(cfg.seed, cfg.n_estimators),
            "bootstrap_emi": {n: emi_seed(cfg, n) for n in (id_name, *scenario_names)},
            "bootstrap_emid": {n: emid_seed(cfg, id_name, n) for n in scenario_names},
            "derivation": SEED_DERIVATION}


def environment_record(device: str = "cpu") -> dict[str, Any]:
    """Package versions, Python, platform and the device the run computed on."""
    env = environment()
    return {**{k: env[k] for k in ("versions", "python", "platform")}, "device": device}


def embedding_record(embedded: Sequence[EmbeddedSplit]) -> dict[str, Any]:
    """Per split: n, fusion and visual source of its X (the encoders are recorded once, elsewhere)."""
    return {e.name: {k: e.metadata.get(k) for k in ("n", "fusion", "fusion_requested", "visual_source")}
            for e in embedded}


# ------------------------------------------------------------------------------------------ one call
@dataclass(frozen=True)
class EvalPlan:
    """What one evaluation computes: the ID split against its scenarios with one config.

    ``title``, ``notes`` (plan-wide caveats, e.g. stand-ins a preset used) and ``responder`` (what answered
    the splits, a record) go into the result as they are; the study's plan fills them, the API leaves them
    empty. ``estimator``: estimators already fitted on a declared fitting set (a study's ``fit`` key,
    :mod:`mllmshift.evaluation.fit`), used instead of step 2's fit or load."""

    id_split: Split
    scenarios: tuple[ScenarioSpec, ...]
    cfg: EvalConfig
    title: str = ""
    notes: tuple[str, ...] = ()
    responder: Mapping[str, Any] | None = None
    estimator: Ensemble | None = None

    @property
    def splits(self) -> list[Split]:
        return [self.id_split, *(s.split for s in self.scenarios)]


@dataclass(frozen=True)
class Evaluation:
    """A finished evaluation: the typed result and what only the caller may want to keep."""

    result: StudyResult
    ensemble: Ensemble
    embedded: tuple[EmbeddedSplit, ...]
    sample_logs: tuple[Path, ...] = ()


def run_threads(cfg: EvalConfig, progress: Progress | None = None) -> ThreadChoice:
    """The CPU threads of one run: ``cfg.threads``, else :func:`mllmshift.threads.choose_threads` (the environment,
    the usable CPUs and the load); said on the progress stream. Every run computes inside
    ``thread_limits(run_threads(cfg))``, so encoders and estimators built in it follow that count; an automatic
    choice is re-read per stage and between a fit's epochs (:class:`mllmshift.follow_load.FollowLoad`)."""
    choice = choose_threads(cfg.threads)
    if progress is not None:
        progress.say(f"threads: {choice.describe()}")
    return choice


@contextlib.contextmanager
def compute_settings(cfg: EvalConfig, progress: Progress | None = None) -> Iterator[tuple[ThreadChoice, str]]:
    """Run the block inside ``thread_limits(run_threads(cfg))`` on the device ``cfg.device`` names
    (:func:`mllmshift.devices.using_device`); yields the thread choice and the resolved device (``cpu`` or
    ``cuda``), which results record. Every entry point of the pipeline (this module's :func:`evaluate`, the
    study runner, ``mllmshift embed`` and the Ray engine's actors) computes inside it."""
    from mllmshift.devices import using_device

    threads = run_threads(cfg, progress)
    with thread_limits(threads), following(threads), using_device(cfg.device) as device:
        yield threads, device


def run_thread_record(threads: ThreadChoice) -> dict[str, Any]:
    """What results record as ``threads``: the run's choice and, under ``stages``, what each stage chose (an
    automatic choice is re-read per stage and during long fits: :class:`mllmshift.follow_load.FollowLoad`)."""
    from mllmshift.follow_load import current_follow

    follow = current_follow()
    return {**threads.to_dict(), "stages": follow.record() if follow is not None else {}}


def split_warnings(splits: Sequence[Split]) -> tuple[str, ...]:
    """The readers' warnings of every split (``metadata["warnings"]``: data kept on request, e.g. empty answers
    with ``allow_empty`` or a partly missing visual input with ``allow_mixed_visual``), each naming its split."""
    return tuple(f"{s.name}: {w}" for s in splits for w in dict(s.metadata).get("warnings", ()))


def check_plan(plan: EvalPlan, *, responder: bool = False) -> tuple[str, ...]:
    """The checks every entry point runs before computing (unique names, the splits, the saved estimator);
    returns the checks' warnings."""
    names = [s.name for s in plan.splits]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MllmshiftError(f"split names must be unique; repeated: {', '.join(dup)}")
    notes = check_splits(plan.id_split, plan.splits[1:], plan.cfg, responder=responder)
    check_checkpoint(plan.cfg)
    return notes


def evaluate(plan: EvalPlan, store: Store | None = None, *, cache: EmbeddingCache | None = None,
             progress: Progress | None = None, sample_log: str | os.PathLike[str] | None = None,
             embeddings: EmbeddingStore | None = None, checked: tuple[str, ...] | None = None,
             compute: tuple[ThreadChoice, str] | None = None) -> Evaluation:
    """Embed, fit (or load) the estimators and evaluate the ID split against every scenario, keeping stage
    outputs in ``store`` (default :class:`~mllmshift.evaluation.stores.NullStore`: nothing kept), on the threads
    :func:`run_threads` chooses and the device ``cfg.device`` names (:func:`compute_settings`; ``compute``:
    a choice the caller already made and computes inside).

    ``sample_log``: a folder for ``<split>.jsonl`` per-sample rows (:mod:`mllmshift.evaluation.samples`).
    ``embeddings``: take the embeddings from this :class:`~mllmshift.encoders.store.EmbeddingStore` (written by
    ``mllmshift embed`` or the Ray engine) instead of embedding; they are read in chunks.
    ``checked``: the warnings of :func:`check_plan` when the caller already ran it.
    """
    store = NullStore() if store is None else store
    notes = check_plan(plan) if checked is None else checked
    encoders = Encoders(plan.cfg)
    with contextlib.ExitStack() as stack:
        threads, device = compute or stack.enter_context(compute_settings(plan.cfg, progress))
        return _evaluate(plan, store, encoders, cache, progress, sample_log, embeddings, notes, threads, device)


def _evaluate(plan: EvalPlan, store: Store, encoders: Encoders, cache: EmbeddingCache | None,
              progress: Progress | None, sample_log: Any, embeddings: EmbeddingStore | None,
              notes: tuple[str, ...], threads: ThreadChoice, device: str) -> Evaluation:
    cfg, splits = plan.cfg, plan.splits
    with store.timed("embed"), stage("embed"):
        keys = {s.name: encoders.key(s) for s in splits}
        embedded = [_embed(s, keys[s.name], encoders, cache, progress, embeddings, store)
                    for s in tracked(splits, progress, "embed", len(splits), "split")]
    id_e = embedded[0]
    with stage("fit"):
        ensemble = plan.estimator or estimator_step(embedded, cfg, store, progress, keys=keys, encoders=encoders.info())
    fp = ensemble.fingerprint
    with store.timed("scenarios"), stage("scenarios"):
        if id_e.reference is None or id_e.response is None:
            raise MllmshiftError(f"the ID split '{id_e.name}' needs responses and references for EMI")
        id_result = store.result("scenarios", "__id__", stable_hash(["id", fp, keys[id_e.name], cfg.fingerprint()]),
                                 lambda: evaluate_split(id_e, ensemble.members, cfg), SplitResult.from_json)
        ctx = ScenarioContext(id_e, id_result, ensemble.members, cfg)
        results = []
        for spec, e in tracked(list(zip(plan.scenarios, embedded[1:])), progress, "scenarios", len(plan.scenarios),
                               "scenario"):
            key = stable_hash([spec.name, spec.group, spec.kind, dict(spec.metadata), list(spec.notes), fp,
                               keys[id_e.name], keys[e.name], cfg.fingerprint()])
            results.append(store.result("scenarios", spec.name, key,
                                        lambda spec=spec, e=e: evaluate_scenario(spec, e, ctx),
                                        ScenarioResult.from_json))
    logs: list[Path] = []
    if sample_log is not None:
        logs = write_sample_logs(sample_log, splits, embedded, ensemble.members)
    result = StudyResult(
        title=plan.title, config=cfg, id=id_result, scenarios=tuple(results),
        seeds=seed_record(cfg, plan.id_split.name, [s.name for s in plan.scenarios]),
        environment=environment_record(device), encoders=encoders.info(), estimator=dict(ensemble.info),
        data=data_record(plan, embedded), threads=run_thread_record(threads), warnings=split_warnings(splits) + notes)
    return Evaluation(result, ensemble, tuple(embedded), tuple(logs))


def _embed(split: Split, key: str, encoders: Encoders, cache: EmbeddingCache | None, progress: Progress | None,
           embeddings: EmbeddingStore | None, store: Store) -> EmbeddedSplit:
    """One split: from the embedding store on disk when given, else through ``store`` (kept or computed)."""
    if embeddings is not None:
        return store.read_embeddings(split.name, lambda: embed_split(split, encoders, cache, progress, embeddings))
    return store.embedded(split.name, key, lambda: embed_split(split, encoders, cache, progress))


def data_record(plan: EvalPlan, embedded: Sequence[EmbeddedSplit]) -> dict[str, Any]:
    """What results record about the data: the ID split, the scenarios per group, the plan's notes, the
    responder and each split's embedding (one shape for every entry point)."""
    from mllmshift.vocab import GROUPS

    return {"id": {"name": plan.id_split.name, "n": len(plan.id_split),
                   "source": dict(plan.id_split.metadata).get("source")},
            "n_scenarios": len(plan.scenarios),
            "groups": {g: sum(s.group == g for s in plan.scenarios) for g in GROUPS},
            "notes": list(plan.notes), "responder": None if plan.responder is None else dict(plan.responder),
            "embeddings": embedding_record(embedded)}


def write_sample_logs(folder: str | os.PathLike[str], splits: Sequence[Split], embedded: Sequence[EmbeddedSplit],
                      members: Sequence[MIEstimator]) -> list[Path]:
    """``folder/<split>.jsonl`` for every split (see :mod:`mllmshift.evaluation.samples`)."""
    from mllmshift.evaluation.samples import sample_rows, write_sample_log

    return [write_sample_log(folder, s.name, sample_rows(s, e, tuple(members), comparable(embedded[0], e)))
            for s, e in zip(splits, embedded)]
