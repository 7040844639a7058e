r"""The one evaluation pipeline: embed → estimator(s) → per-split and per-scenario results.

``mllmshift emi``, ``mllmshift emid``, the study's stages and the Python API all run these steps:

1. :func:`embed_split` / :func:`embed_splits`: each split through the configured encoders and the shared
   content cache (:class:`~mllmshift.encoders.cache.EmbeddingCache`, default ``~/.cache/mllmshift``);
   a split with no visual input at all gets ``fusion="text"`` (:func:`split_fusion`);
2. :func:`get_estimators`: the checkpoint, or :func:`fit_estimators`: ``n_estimators`` estimators fitted on the
   pooled (X, Ŷ) and (X, Y) pairs of every split whose X is built like the ID's (:func:`comparable`);
3. :func:`evaluate_split`: EMI with a bootstrap interval, seed ``derive_seed(seed, "emi", split)``;
4. :func:`evaluate_scenario`: the shifted split's EMI, EMID with an interval (seed
   ``derive_seed(seed, "emid", id, scenario)``), the bound and the answer shift JSD(P_Ŷ‖Q_Ŷ). A scenario
   without references, or whose X is built unlike the ID's, is *partial*: it gets the terms that need
   neither (see :class:`~mllmshift.evaluation.results.ScenarioResult`).

:func:`evaluate` runs them all for one ID split and its scenarios and returns a
:class:`~mllmshift.evaluation.results.StudyResult`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mllmshift.components import build_component, component_class
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.encoders.base import Encoder
from mllmshift.encoders.cache import EmbeddingCache
from mllmshift.errors import MllmshiftError
from mllmshift.estimators.base import DivergenceEstimator, MIEstimator
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.results import ScenarioResult, SplitResult, StudyResult
from mllmshift.evaluation.scenarios import ScenarioSpec
from mllmshift.metrics import (
    bootstrap_emi,
    bootstrap_emid,
    emi_of,
    emid_from,
    emid_upper_bound,
    output_term,
)
from mllmshift.progress import BarProgress, Progress, tracked
from mllmshift.provenance import derive_seed, environment, stable_hash
from mllmshift.records import Split

SEED_DERIVATION = ("derive_seed(seed, 'emi', split) and derive_seed(seed, 'emid', id, scenario) for the bootstrap; "
                   "derive_seed(seed, 'estimator', k) for ensemble member k of K > 1 (seed itself for K = 1); "
                   "derive_seed = first 8 hex digits of sha256(json)")


def default_cache_dir() -> Path:
    """``$MLLMSHIFT_CACHE``, else ``$XDG_CACHE_HOME/mllmshift``, else ``~/.cache/mllmshift``."""
    if os.environ.get("MLLMSHIFT_CACHE"):
        return Path(os.environ["MLLMSHIFT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mllmshift"


def open_cache(cache_dir: str | os.PathLike[str] | None) -> EmbeddingCache | None:
    """The content cache at ``cache_dir`` (None: no cache)."""
    return None if cache_dir is None else EmbeddingCache(cache_dir)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads (None: leave torch's setting), restoring it after."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------ 1. embed
@dataclass
class Encoders:
    """The configured encoders, built on first use (an image encoder only when a split has images)."""

    cfg: EvalConfig
    _text: Encoder | None = None
    _image: Encoder | None = None

    @property
    def text(self) -> Encoder:
        if self._text is None:
            self._text = build_component("encoder", self.cfg.text_encoder, allowed=self.cfg.plugins)
        return self._text

    @property
    def image(self) -> Encoder | None:
        if self._image is None and self.cfg.image_encoder is not None:
            self._image = build_component("encoder", self.cfg.image_encoder, allowed=self.cfg.plugins)
        return self._image

    def key(self, split: Split) -> str:
        """A hash of what embedding ``split`` depends on: its content, the encoders it uses and its fusion."""
        from mllmshift.evaluation.samples import split_fingerprint

        image = self.image.fingerprint() if split.has_images and self.image is not None else None
        return stable_hash([split_fingerprint(split), self.text.fingerprint(), image, split_fusion(split, self.cfg)],
                           24)

    def info(self) -> dict[str, Any]:
        """Config and fingerprint of each encoder used (the image encoder only if a split had images), and the
        fusion (what results record)."""
        image = self._image
        return {"text": {"config": self.text.config(), "fingerprint": self.text.fingerprint()},
                "image": None if image is None else {"config": image.config(), "fingerprint": image.fingerprint()},
                "fusion": self.cfg.fusion}


def split_fusion(split: Split, cfg: EvalConfig) -> str:
    """The configured fusion, or ``text`` for a split with no visual input at all (e.g. in-the-wild without
    captions): its X is then the question alone, and it is not comparable with an ID split that has one."""
    has_visual = (split.has_images and cfg.image_encoder is not None) or split.has_image_text
    return cfg.fusion if has_visual or cfg.fusion == "auto" else "text"


def embed_split(split: Split, encoders: Encoders, cache: EmbeddingCache | None,
                progress: Progress | None = None) -> EmbeddedSplit:
    """One split through the encoders (and the cache), fused as :func:`split_fusion` says."""
    from mllmshift.encoders.pipeline import embed_split as embed

    image = encoders.image if split.has_images else None
    return embed(split, encoders.text, image, fusion=split_fusion(split, encoders.cfg), cache=cache,
                 progress=isinstance(progress, BarProgress))


def embed_splits(splits: Sequence[Split], encoders: Encoders, cache: EmbeddingCache | None,
                 progress: Progress | None = None) -> list[EmbeddedSplit]:
    """Every split through :func:`embed_split`."""
    return [embed_split(s, encoders, cache, progress) for s in tracked(splits, progress, "embed", len(splits), "split")]


# ------------------------------------------------------------------------------------------ 2. estimators
def comparable(id_e: EmbeddedSplit, e: EmbeddedSplit) -> bool:
    """Whether X of ``e`` is built like the ID's (same fusion, visual source and dims), so MI terms compare."""
    same = all(id_e.metadata.get(k) == e.metadata.get(k) for k in ("fusion", "visual_source"))
    return same and id_e.x.shape[1] == e.x.shape[1] and (id_e.x_visual is None) == (e.x_visual is None)


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
                        sorted(pool_keys)])


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
    members = fit_members(cls, pool, cfg.n_estimators, cfg.seed, progress, **dict(cfg.estimator.options))
    return Ensemble(members, trained_info(members, pool, key))


def trained_info(members: Sequence[MIEstimator], pool: Sequence[EmbeddedSplit], key: str | None) -> dict[str, Any]:
    """What results record about fitted estimators: configs, fit summaries, the splits and pairs they saw."""
    return {"source": "trained", "key": key, "config": members[0].config(),
            "members": [m.config() for m in members], "history": members[0].fit_summary(),
            "member_histories": [m.fit_summary() for m in members], "trained_on": [e.name for e in pool],
            "n_pairs": int(sum((e.response is not None) * len(e) + (e.reference is not None) * len(e) for e in pool))}


def get_estimators(embedded: Sequence[EmbeddedSplit], cfg: EvalConfig, progress: Progress | None = None) -> Ensemble:
    """Load ``cfg.checkpoint``, or fit ``cfg.n_estimators`` on the pooled pairs of the comparable splits."""
    if cfg.checkpoint is not None:
        return load_estimators(cfg, embedded[0])
    return fit_estimators(estimator_pool(embedded), cfg, progress)


def build_divergence(cfg: EvalConfig) -> DivergenceEstimator:
    """The bound's divergence estimator, seeded with the config's seed."""
    return build_component("divergence", cfg.divergence, allowed=cfg.plugins, seed=cfg.seed)


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
                           emi_seed(cfg, e.name), cfg.confidence)
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
                                     cfg.confidence)
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
            import numpy as np

            mi_response = float(np.mean([m.mi(e.x, e.response) for m in ctx.members]))
        shifted = SplitResult(e.name, len(e), None, None, mi_response)
    jsd_response = None
    if e.response is not None and id_e.response is not None:
        jsd_response = max(float(ctx.divergence.divergence(id_e.response, e.response)), 0.0)
    return ScenarioResult(spec.name, spec.group, spec.kind, len(e), shifted, bound, emid, members, emid_ci,
                          jsd_response, not complete, e.reference is not None, tuple(notes), dict(spec.metadata))


# ------------------------------------------------------------------------------------------ records
def seed_record(cfg: EvalConfig, id_name: str, scenario_names: Sequence[str]) -> dict[str, Any]:
    """Every seed a run used, and how they are derived."""
    from mllmshift.estimators.fitting import member_seeds

    return {"global": cfg.seed, "estimator": member_seeds(cfg.seed, cfg.n_estimators),
            "bootstrap_emi": {n: emi_seed(cfg, n) for n in (id_name, *scenario_names)},
            "bootstrap_emid": {n: emid_seed(cfg, id_name, n) for n in scenario_names},
            "derivation": SEED_DERIVATION}


def environment_record() -> dict[str, Any]:
    """Package versions, Python and platform."""
    env = environment()
    return {k: env[k] for k in ("versions", "python", "platform")}


def embedding_record(embedded: Sequence[EmbeddedSplit]) -> dict[str, Any]:
    """Per split: n, fusion and visual source of its X (the encoders are recorded once, elsewhere)."""
    return {e.name: {k: e.metadata.get(k) for k in ("n", "fusion", "fusion_requested", "visual_source")}
            for e in embedded}


# ------------------------------------------------------------------------------------------ one call
@dataclass(frozen=True)
class Evaluation:
    """A finished one-shot evaluation: the typed result and what only the caller may want to keep."""

    result: StudyResult
    ensemble: Ensemble
    embedded: tuple[EmbeddedSplit, ...]


def evaluate(id_split: Split, scenarios: Sequence[ScenarioSpec], cfg: EvalConfig, *,
             cache: EmbeddingCache | None = None, progress: Progress | None = None, title: str = "",
             sample_log: str | os.PathLike[str] | None = None) -> Evaluation:
    """Embed, fit (or load) the estimators and evaluate the ID split against every scenario.

    ``sample_log``: a folder for ``<split>.jsonl`` per-sample rows (:mod:`mllmshift.evaluation.samples`).
    """
    names = [id_split.name, *(s.name for s in scenarios)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MllmshiftError(f"split names must be unique; repeated: {', '.join(dup)}")
    encoders = Encoders(cfg)
    with torch_threads(cfg.threads):
        embedded = embed_splits([id_split, *(s.split for s in scenarios)], encoders, cache, progress)
        id_e = embedded[0]
        if id_e.response is None or id_e.reference is None:
            raise MllmshiftError(f"the ID split '{id_e.name}' needs responses and references for EMI")
        ensemble = get_estimators(embedded, cfg, progress)
        id_result = evaluate_split(id_e, ensemble.members, cfg)
        ctx = ScenarioContext(id_e, id_result, ensemble.members, cfg)
        results = tuple(evaluate_scenario(spec, e, ctx) for spec, e in
                        tracked(list(zip(scenarios, embedded[1:])), progress, "scenarios", len(scenarios),
                                "scenario"))
        if sample_log is not None:
            write_sample_logs(sample_log, [id_split, *(s.split for s in scenarios)], embedded, ensemble.members)
    result = StudyResult(
        title=title, config=cfg, id=id_result, scenarios=results,
        seeds=seed_record(cfg, id_split.name, [s.name for s in scenarios]), environment=environment_record(),
        encoders=encoders.info(), estimator=dict(ensemble.info),
        data={"id": {"name": id_split.name, "n": len(id_split), "source": dict(id_split.metadata).get("source")},
              "n_scenarios": len(scenarios), "embeddings": embedding_record(embedded)})
    return Evaluation(result, ensemble, tuple(embedded))


def write_sample_logs(folder: str | os.PathLike[str], splits: Sequence[Split], embedded: Sequence[EmbeddedSplit],
                      members: Sequence[MIEstimator]) -> list[Path]:
    """``folder/<split>.jsonl`` for every split (see :mod:`mllmshift.evaluation.samples`)."""
    from mllmshift.evaluation.samples import sample_rows, write_sample_log

    return [write_sample_log(folder, s.name, sample_rows(s, e, tuple(members), comparable(embedded[0], e)))
            for s, e in zip(splits, embedded)]
