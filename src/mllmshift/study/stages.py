"""The cached stages of a study, each a thin layer over :mod:`mllmshift.evaluation.pipeline`.

1. :func:`respond`: a responder answers the splits that have no responses (``.state/responses/``);
2. :func:`embed`: each split once, through the shared content cache; a per-split snapshot in
   ``.state/embedded/`` makes a rerun read no encoder at all. With ``--embeddings DIR`` or the Ray engine the
   splits are read from an embedding store instead (docs/scale.md);
3. :func:`estimators`: the checkpoint, or K estimators fitted once on the pooled pairs of every split
   whose X is built like the ID's (``.state/estimator/<key>.<k>.pt``);
4. :func:`id_result` and :func:`scenarios`: per split, written atomically as soon as it is done
   (``.state/scenarios/<name>.<key>.json``), so a killed run resumes where it stopped.

Every entry's key hashes everything it depends on; the numbers are the pipeline's, so a study and
``mllmshift emid`` on the same data, config and seed agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mllmshift.components import build_component, component_class
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.encoders.store import EmbeddingStore
from mllmshift.errors import MllmshiftError
from mllmshift.evaluation.embedding import Encoders, embed_split
from mllmshift.evaluation.estimation import Ensemble, estimator_key, estimator_pool, load_estimators, trained_info
from mllmshift.evaluation.pipeline import ScenarioContext, evaluate_scenario, evaluate_split
from mllmshift.evaluation.results import ScenarioResult, SplitResult
from mllmshift.evaluation.samples import safe_name, split_fingerprint
from mllmshift.evaluation.scenarios import ScenarioSpec
from mllmshift.progress import Progress, tracked
from mllmshift.provenance import stable_hash
from mllmshift.records import Split
from mllmshift.study.config import StudyConfig
from mllmshift.study.state import StageLog, StudyState


@dataclass
class Stages:
    """What every stage needs: the config, the state folder, the stage log, progress and a message sink."""

    cfg: StudyConfig
    state: StudyState
    log: StageLog
    progress: Progress | None
    say: Callable[[str], None]
    #: embeddings on disk to read instead of embedding (``mllmshift study --embeddings DIR``)
    embeddings: EmbeddingStore | None = None

    def timed(self, stage: str, since: float) -> None:
        self.log.seconds[stage] = self.log.seconds.get(stage, 0.0) + time.perf_counter() - since


def respond(st: Stages, splits: Sequence[Split]) -> list[Split]:
    """Fill in the responses of every split that has none."""
    todo = [s for s in splits if not s.has_responses]
    if not todo:
        return list(splits)
    comp = st.cfg.responder
    if comp is None:
        names = ", ".join(s.name for s in todo[:5])
        raise MllmshiftError(f"{len(todo)} split(s) have no (or incomplete) responses ({names}…); give the "
                             "config a 'responder' to answer them, or supply responses")
    from mllmshift.io import read_canonical, write_canonical

    t = time.perf_counter()
    responder = None
    done: dict[str, Split] = {}
    for s in tracked(todo, st.progress, "respond", len(todo), "split"):
        key = stable_hash([comp.to_dict(), split_fingerprint(s)])
        path = st.state.path("responses", f"{safe_name(s.name)}.{key}.jsonl")
        if st.state.verified(path):
            cached = read_canonical(path, name=s.name)
            done[s.name] = Split(s.name, tuple(a.with_(response=b.response) for a, b in zip(s, cached)), s.metadata)
            st.log.hit("respond", True)
            continue
        if responder is None:
            responder = build_component("responder", comp, allowed=st.cfg.eval.plugins)
        answers = responder.respond(list(s.samples))
        if len(answers) != len(s):
            raise MllmshiftError(f"responder returned {len(answers)} answers for {len(s)} samples")
        filled = Split(s.name, tuple(a.with_(response=str(r)) for a, r in zip(s, answers)), s.metadata)
        write_canonical(filled, path)
        st.state.seal(path)
        done[s.name] = filled
        st.log.hit("respond", False)
    st.timed("respond", t)
    return [done.get(s.name, s) for s in splits]


def embed(st: Stages, splits: Sequence[Split], encoders: Encoders,
          cache: EmbeddingCache | None) -> tuple[list[EmbeddedSplit], dict[str, str]]:
    """Every split embedded once (see the module docstring); returns the splits and their content keys."""
    t = time.perf_counter()
    out: list[EmbeddedSplit] = []
    keys: dict[str, str] = {}
    if st.embeddings is not None or st.cfg.engine.name == "ray":
        return _embed_from_store(st, splits, encoders, cache, t)
    for s in tracked(splits, st.progress, "embed", len(splits), "split"):
        keys[s.name] = key = encoders.key(s)
        path = st.state.path("embedded", f"{safe_name(s.name)}.{key}.npz")
        cached = st.state.load_embedded(path, s.name)
        if cached is not None:
            out.append(cached)
            st.log.hit("embed", True)
            continue
        e = embed_split(s, encoders, cache, st.progress)
        st.state.save_embedded(path, e)
        out.append(e)
        st.log.hit("embed", False)
    st.timed("embed", t)
    return out, keys


def _embed_from_store(st: Stages, splits: Sequence[Split], encoders: Encoders, cache: EmbeddingCache | None,
                      t: float) -> tuple[list[EmbeddedSplit], dict[str, str]]:
    """The embedding stage from a store on disk: the user's (``--embeddings DIR``) or, on the Ray engine,
    ``.state/embeddings``. On the Ray engine the splits the store lacks (by content key) are first embedded
    into it by Ray Data; every split is then read back from the store, streamed (a split the store lacks, or
    holds from other content, is a located error)."""
    from mllmshift.evaluation.embedding import split_fusion

    store = st.embeddings if st.embeddings is not None else EmbeddingStore(st.state.path("embeddings", "x").parent)
    keys = {s.name: encoders.key(s) for s in splits}
    have = store.manifest["splits"]
    todo = [s for s in splits if have.get(s.name, {}).get("key") != keys[s.name]] if st.cfg.engine.name == "ray" \
        else []
    for s in splits:
        st.log.hit("embed", s not in todo)
    if todo:
        from mllmshift.engines.ray_engine import embed_with_ray

        cache_dir = None if cache is None else str(cache.root)
        for line in embed_with_ray(todo, st.cfg.eval, store, st.cfg.engine, cache_dir=cache_dir):
            st.say(line.line())
    out = [store.load(s.name, split_fusion(s, st.cfg.eval), key=keys[s.name]) for s in splits]
    st.timed("embed", t)
    return out, keys


def estimators(st: Stages, embedded: Sequence[EmbeddedSplit], keys: dict[str, str]) -> Ensemble:
    """The checkpoint, or the K fitted estimators (read back from the state when a run already fitted them)."""
    cfg = st.cfg.eval
    t = time.perf_counter()
    if cfg.checkpoint is not None:
        st.log.hit("estimator", True)
        return load_estimators(cfg, embedded[0])
    pool = estimator_pool(embedded)
    key = estimator_key(cfg, [keys[e.name] for e in pool])
    paths = [st.state.path("estimator", f"{key}.{k}.pt") for k in range(cfg.n_estimators)]
    cls = component_class("mi-estimator", cfg.estimator.name, allowed=cfg.plugins)
    members = _load_members(st, cls, paths)
    if members is not None:
        st.log.hit("estimator", True)
    else:
        from mllmshift.estimators.fitting import fit_members

        st.say(f"fitting {cfg.n_estimators} × {cfg.estimator.name} on the pooled pairs of {len(pool)} splits")
        members = fit_members(cls, pool, cfg.n_estimators, cfg.seed, st.progress, crossfit_folds=cfg.folds,
                              **dict(cfg.estimator.options))
        for m, p in zip(members, paths):
            m.save(p)
            st.state.seal(p)
        st.log.hit("estimator", False)
    st.timed("estimator", t)
    return Ensemble(members, trained_info(members, pool, key))


def _load_members(st: Stages, cls: type, paths: Sequence[Path]) -> tuple | None:
    """The saved ensemble members, None when any is missing or cannot be trusted (then all are refitted)."""
    if not all([st.state.verified(p) for p in paths]):
        return None
    try:
        from mllmshift.estimators.defaults import load_mi_estimator

        return tuple(load_mi_estimator(p) for p in paths)  # a cross-fitted member's file is not cls's
    except MllmshiftError as err:
        for p in paths:
            st.state.unreadable(p, err)
        return None


def id_result(st: Stages, id_e: EmbeddedSplit, ensemble: Ensemble, key: str) -> SplitResult:
    """EMI of the ID split (cached)."""
    path = st.state.path("scenarios", f"__id__.{stable_hash(['id', key, st.cfg.eval.fingerprint()])}.json")
    cached = st.state.read_json(path)
    if cached is not None:
        st.log.hit("scenarios", True)
        return SplitResult.from_json(cached["result"])
    if id_e.reference is None or id_e.response is None:
        raise MllmshiftError(f"the ID split '{id_e.name}' needs responses and references for EMI")
    res = evaluate_split(id_e, ensemble.members, st.cfg.eval)
    st.state.write_json(path, {"result": res.to_json()})
    st.log.hit("scenarios", False)
    return res


def scenarios(st: Stages, specs: Sequence[ScenarioSpec], embedded: Sequence[EmbeddedSplit], keys: dict[str, str],
              ctx: ScenarioContext, ensemble_key: str) -> list[ScenarioResult]:
    """Every scenario against the ID split, each written to the state as soon as it is done."""
    t = time.perf_counter()
    out = []
    for spec, e in tracked(list(zip(specs, embedded)), st.progress, "scenarios", len(specs), "scenario"):
        key = stable_hash([spec.name, spec.group, spec.kind, dict(spec.metadata), list(spec.notes), ensemble_key,
                           keys[ctx.id_e.name], keys[e.name], st.cfg.eval.fingerprint()])
        path = st.state.path("scenarios", f"{safe_name(spec.name)}.{key}.json")
        cached = st.state.read_json(path)
        if cached is not None:
            out.append(ScenarioResult.from_json(cached["result"]))
            st.log.hit("scenarios", True)
            continue
        res = evaluate_scenario(spec, e, ctx)
        st.state.write_json(path, {"result": res.to_json()})
        out.append(res)
        st.log.hit("scenarios", False)
    st.timed("scenarios", t)
    return out
