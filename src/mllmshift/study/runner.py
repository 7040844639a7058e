r"""The study runner: one command from a config to ``results.json``, ``scenarios.csv`` and a report.

Stages, each cached under ``OUT/.state/`` so that a killed run resumes where
it stopped and a second run recomputes nothing:

1. **plan**: read the ID split and the scenarios (apply shift grids once);
2. **respond**: a responder answers the splits that have no responses
   (``.state/responses/<split>.<key>.jsonl``);
3. **embed**: each split is embedded once (``.state/embedded/<split>.<key>.npz``;
   the encoders' own :class:`~mllmshift.encoders.cache.EmbeddingCache` sits in
   ``.state/embeddings``);
4. **estimator**: the MI estimator is loaded from a checkpoint, or fitted once on
   the pooled (X, Ŷ) and (X, Y) pairs of all comparable splits
   (``.state/estimator/<key>.pt``);
5. **scenarios**: per scenario, EMI with a bootstrap CI, EMID with a CI, and the
   EMID bound with its four JSD terms (``.state/scenarios/<name>.json``, written
   atomically);
6. **aggregate**: correlations of EMID with the bound across scenarios (all and
   per group), and of EMI with judge scores where given; then the files in ``OUT``.

Every cache entry is keyed by a hash of everything that determines it (data,
encoder fingerprints, estimator options, seeds), so a changed config never reads
a stale entry. Bootstrap seeds are ``derive_seed(seed, "emi"|"emid", scenario)``:
the same config and seed give the same numbers.

Scenarios whose split has no references (e.g. LLaVA-Bench in-the-wild) get only
the terms that need none: :math:`\mathrm{JSD}(P_{X_t}\|Q_{X_t})`,
:math:`\mathrm{JSD}(P_{X_v}\|Q_{X_v})` where both have a visual input,
:math:`\mathrm{JSD}(P_{\hat Y}\|P_Y)` of the ID split, :math:`\hat I(X;\hat Y)`
where X is built like the ID's, and the response shift
:math:`\mathrm{JSD}(P_{\hat Y}\|Q_{\hat Y})`; they are marked ``partial``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.errors import MllmshiftError
from mllmshift.io.atomic import atomic_write_bytes, atomic_write_text
from mllmshift.provenance import derive_seed, environment, stable_hash
from mllmshift.records import Split
from mllmshift.study.config import Component, StudyConfig
from mllmshift.study.plan import ScenarioSpec, StudyPlan, plan_from_config, split_fingerprint
from mllmshift.study.stats import GROUPS, correlations_by_group

SCHEMA = "mllmshift-study/1"
#: scenario fields copied into one row of scenarios.csv, in order
CSV_FIELDS = ("scenario", "group", "kind", "n", "partial", "emi", "emi_low", "emi_high", "emid", "emid_low",
              "emid_high", "bound", "jsd_visual", "jsd_text", "jsd_id_output", "jsd_ood_output", "jsd_response",
              "mi_response", "mi_reference", "visual", "severity", "text", "level", "win_rate", "relative_score")


# ------------------------------------------------------------------------------------------ small helpers
def _atomic_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "items"):
        return dict(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _clean(obj: Any) -> Any:
    """Replace non-finite floats by None (results are strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _progress(items: Sequence[Any], desc: str, enabled: bool) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="split" if desc in ("respond", "embed") else "scenario", file=sys.stderr)


def _import_target(target: str) -> Any:
    import importlib

    module, attr = target.split(":", 1)
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def build_component(kind: str, comp: Component) -> Any:
    """Instantiate a registry entry (``name``) or a plugin (``"package.module:Class"``) with its options."""
    options = dict(comp.options)
    if ":" in comp.name:
        return _import_target(comp.name)(**options)
    if kind == "encoder":
        try:
            from mllmshift.encoders.pipeline import build_encoder
        except ModuleNotFoundError:  # pragma: no cover - older layout
            from mllmshift.encoders import encoders

            return encoders.create(comp.name, **options)
        return build_encoder(comp.name, **options)
    if kind == "responder":
        from mllmshift.responders import responders

        return responders.create(comp.name, **options)
    if kind == "divergence":
        from mllmshift.estimators import divergence_estimators

        return divergence_estimators.create(comp.name, **options)
    raise ValueError(f"unknown component kind {kind}")


# ------------------------------------------------------------------------------------------ state
@dataclass
class StageLog:
    """How many items each stage computed and how many it read from the state (for the run record)."""

    computed: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def hit(self, stage: str, cached: bool) -> None:
        d = self.cached if cached else self.computed
        d[stage] = d.get(stage, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        stages = sorted(set(self.computed) | set(self.cached) | set(self.seconds))
        return {s: {"computed": self.computed.get(s, 0), "cached": self.cached.get(s, 0),
                    "seconds": round(self.seconds.get(s, 0.0), 3)} for s in stages}


class StudyState:
    """The on-disk state of a study: ``OUT/.state/``."""

    def __init__(self, out: Path) -> None:
        self.root = out / ".state"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def save_embedded(self, path: Path, e: EmbeddedSplit) -> None:
        arrays = {k: getattr(e, k) for k in ("x_text", "x", "response", "reference", "x_visual")
                  if getattr(e, k) is not None}
        buf = io.BytesIO()
        np.savez(buf, ids=np.array(e.ids, dtype=object).astype(str),
                 metadata=np.array(json.dumps(dict(e.metadata), default=str)), **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @staticmethod
    def load_embedded(path: Path, name: str) -> EmbeddedSplit:
        with np.load(path, allow_pickle=False) as z:
            get = lambda k: z[k] if k in z.files else None  # noqa: E731
            return EmbeddedSplit(name=name, ids=tuple(str(i) for i in z["ids"]), x_text=z["x_text"], x=z["x"],
                                 response=get("response"), reference=get("reference"), x_visual=get("x_visual"),
                                 metadata=json.loads(str(z["metadata"])))


# ------------------------------------------------------------------------------------------ the runner
@dataclass
class StudyResult:
    """What :func:`run_study` returns: the results dict and where the files are."""

    results: dict[str, Any]
    out: Path
    files: dict[str, Path]

    @property
    def report_html(self) -> Path:
        return self.files["report.html"]


class StudyRunner:
    """Runs the stages of a study for one config into one output folder (see the module docstring)."""

    def __init__(self, config: StudyConfig, out: str | os.PathLike[str], *, progress: bool = True,
                 plan: StudyPlan | None = None, log: Callable[[str], None] | None = None) -> None:
        self.cfg = config
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = StudyState(self.out)
        self.progress = progress
        self._plan = plan
        self.stages = StageLog()
        self.log = log or (lambda msg: print(msg, file=sys.stderr) if progress else None)
        self._text_encoder: Any = None
        self._image_encoder: Any = None
        self._enc_info: dict[str, Any] | None = None
        self._div: Any = None
        # JSD(P_Ŷ‖P_Y) of the ID split and its estimator: the same for every scenario, computed once
        self._id_output: tuple[float, str] | None = None
        if config.bound_form == "theorem" and config.entropy_scale is None:
            raise MllmshiftError("bound form 'theorem' needs bound.entropy_scale (Ĥ); "
                                 "use form 'scale-adjusted' otherwise")

    # -------------------------------------------------------------- stage 1: plan
    def plan(self) -> StudyPlan:
        if self._plan is None:
            t = time.perf_counter()
            self._plan = plan_from_config(self.cfg, self.state.root)
            self.stages.seconds["plan"] = time.perf_counter() - t
        return self._plan

    # -------------------------------------------------------------- stage 2: respond
    def respond(self, splits: Sequence[Split]) -> list[Split]:
        todo = [s for s in splits if not s.has_responses]
        if not todo:
            return list(splits)
        if self.cfg.responder is None:
            names = ", ".join(s.name for s in todo[:5])
            raise MllmshiftError(f"{len(todo)} split(s) have no (or incomplete) responses ({names}…); give the "
                                 "config a 'responder' to answer them, or supply responses")
        t = time.perf_counter()
        responder = None
        rconf = {"name": self.cfg.responder.name, "options": dict(self.cfg.responder.options)}
        done: dict[str, Split] = {}
        for s in _progress(todo, "respond", self.progress):
            key = stable_hash([rconf, split_fingerprint(s)])
            path = self.state.path("responses", f"{_safe(s.name)}.{key}.jsonl")
            if path.is_file():
                from mllmshift.io import read_canonical

                cached = read_canonical(path, name=s.name)
                done[s.name] = Split(s.name, tuple(a.with_(response=b.response) for a, b in zip(s, cached)),
                                     s.metadata)
                self.stages.hit("respond", True)
                continue
            if responder is None:
                responder = build_component("responder", self.cfg.responder)
            answers = responder.respond(list(s.samples))
            if len(answers) != len(s):
                raise MllmshiftError(f"responder returned {len(answers)} answers for {len(s)} samples")
            filled = Split(s.name, tuple(a.with_(response=str(r)) for a, r in zip(s, answers)), s.metadata)
            from mllmshift.io import write_canonical

            write_canonical(filled, path)
            done[s.name] = filled
            self.stages.hit("respond", False)
        self.stages.seconds["respond"] = time.perf_counter() - t
        self._responder_config = responder.config() if responder is not None else rconf
        return [done.get(s.name, s) for s in splits]

    # -------------------------------------------------------------- stage 3: embed
    def _encoders(self) -> tuple[Any, Any]:
        if self._text_encoder is None:
            self._text_encoder = build_component("encoder", self.cfg.text_encoder)
            self._image_encoder = (None if self.cfg.image_encoder is None
                                   else build_component("encoder", self.cfg.image_encoder))
        return self._text_encoder, self._image_encoder

    def encoder_info(self) -> dict[str, Any]:
        if self._enc_info is None:
            text, image = self._encoders()
            self._enc_info = {
                "text": {"config": text.config(), "fingerprint": text.fingerprint()},
                "image": None if image is None else {"config": image.config(), "fingerprint": image.fingerprint()},
                "fusion": self.cfg.fusion,
            }
        return self._enc_info

    def embed(self, splits: Sequence[Split]) -> tuple[list[EmbeddedSplit], dict[str, str]]:
        t = time.perf_counter()
        info = self.encoder_info()
        out: list[EmbeddedSplit] = []
        keys: dict[str, str] = {}
        cache = None
        for s in _progress(splits, "embed", self.progress):
            fusion = self._fusion_for(s)
            key = stable_hash([split_fingerprint(s), info["text"]["fingerprint"],
                               None if info["image"] is None else info["image"]["fingerprint"], fusion], 24)
            keys[s.name] = key
            path = self.state.path("embedded", f"{_safe(s.name)}.{key}.npz")
            if path.is_file():
                out.append(self.state.load_embedded(path, s.name))
                self.stages.hit("embed", True)
                continue
            from mllmshift.encoders.pipeline import embed_split

            if cache is None:
                from mllmshift.encoders.cache import EmbeddingCache

                cache = EmbeddingCache(self.state.root / "embeddings")
            text, image = self._encoders()
            e = embed_split(s, text, image if s.has_images else None, fusion=fusion, cache=cache, progress=False)
            self.state.save_embedded(path, e)
            out.append(e)
            self.stages.hit("embed", False)
        self.stages.seconds["embed"] = time.perf_counter() - t
        return out, keys

    def _fusion_for(self, s: Split) -> str:
        """The configured fusion, or ``text`` for a split with no visual input at all (e.g. in-the-wild
        without captions): its X is then the question alone, and the split is not comparable with the ID's."""
        has_visual = (s.has_images and self.cfg.image_encoder is not None) or s.has_image_text
        return self.cfg.fusion if has_visual or self.cfg.fusion == "auto" else "text"

    # -------------------------------------------------------------- stage 4: estimator
    def estimator(self, embedded: Sequence[EmbeddedSplit], keys: dict[str, str]) -> tuple[Any, dict[str, Any]]:
        from mllmshift.estimators import mi_estimators

        t = time.perf_counter()
        cls = mi_estimators.get(self.cfg.estimator.name)
        if self.cfg.checkpoint is not None:
            from mllmshift.estimators.defaults import load_mi_estimator
            from mllmshift.estimators.fitting import check_fits

            est = load_mi_estimator(self.cfg.checkpoint)  # the file says which estimator it holds
            check_fits(est, embedded[0], f"checkpoint {self.cfg.checkpoint}", "use the encoders it was trained on, or "
                       "let the study train one (drop estimator.checkpoint)")
            self.stages.hit("estimator", True)
            info = {"source": "checkpoint", "path": self.cfg.checkpoint, "key": stable_hash(self.cfg.checkpoint),
                    "config": est.config()}
            return est, info
        pool = [e for e in embedded if self._comparable(embedded[0], e)]
        opts = dict(self.cfg.estimator.options)
        key = stable_hash([self.cfg.estimator.name, opts, self.cfg.seed, sorted(keys[e.name] for e in pool)])
        path = self.state.path("estimator", f"{key}.pt")
        if path.is_file():
            est = cls.load(path)
            self.stages.hit("estimator", True)
        else:
            from mllmshift.estimators.fitting import fit_estimator
            from mllmshift.progress import progress_for

            self.log(f"fitting {self.cfg.estimator.name} on the pooled pairs of {len(pool)} splits")
            est = fit_estimator(pool, self.cfg.estimator.name, seed=self.cfg.seed, progress=progress_for(self.progress), **opts)
            est.save(path)
            self.stages.hit("estimator", False)
        self.stages.seconds["estimator"] = time.perf_counter() - t
        history = {k: v for k, v in getattr(est, "history", {}).items() if not isinstance(v, list)}
        history.pop("loaded_from", None)
        info = {"source": "trained", "key": key, "config": est.config(), "history": history,
                "trained_on": [e.name for e in pool], "n_pairs": int(sum(
                    (e.response is not None) * len(e) + (e.reference is not None) * len(e) for e in pool))}
        return est, info

    @staticmethod
    def _comparable(id_e: EmbeddedSplit, e: EmbeddedSplit) -> bool:
        """Whether X of ``e`` is built like the ID's (same fusion and dims), so MI terms compare."""
        same = all(id_e.metadata.get(k) == e.metadata.get(k) for k in ("fusion", "visual_source"))
        return same and id_e.x.shape[1] == e.x.shape[1] and (id_e.x_visual is None) == (e.x_visual is None)

    # -------------------------------------------------------------- stage 5: scenarios
    def _divergence(self) -> Any:
        if self._div is None:
            from mllmshift.estimators.defaults import build_divergence

            self._div = (build_component("divergence", Component(self.cfg.divergence)) if ":" in self.cfg.divergence
                         else build_divergence(self.cfg.divergence, seed=self.cfg.seed))
        return self._div

    def _emi_block(self, e: EmbeddedSplit, est: Any, label: str) -> dict[str, Any]:
        from mllmshift.metrics import bootstrap_emi, emi_of

        res = emi_of(e, est).to_dict()
        if self.cfg.n_resamples > 0:
            seed = derive_seed(self.cfg.seed, "emi", label)
            res["ci"] = bootstrap_emi(e.x, e.response, e.reference, est, self.cfg.n_resamples, seed,  # type: ignore
                                      self.cfg.confidence).to_dict()
        return res

    def id_result(self, id_e: EmbeddedSplit, est: Any, key: str) -> dict[str, Any]:
        ckey = stable_hash(["id", key, self.cfg.n_resamples, self.cfg.confidence, self.cfg.seed])
        path = self.state.path("scenarios", f"__id__.{ckey}.json")
        if path.is_file():
            self.stages.hit("scenarios", True)
            return json.loads(path.read_text(encoding="utf-8"))["result"]
        if id_e.reference is None or id_e.response is None:
            raise MllmshiftError(f"the ID split '{id_e.name}' needs responses and references for EMI")
        res = {"name": id_e.name, "n": len(id_e), "emi": self._emi_block(id_e, est, id_e.name)}
        _atomic_json(path, {"key": ckey, "result": _clean(res)})
        self.stages.hit("scenarios", False)
        return _clean(res)

    def scenario_result(self, spec: ScenarioSpec, id_e: EmbeddedSplit, e: EmbeddedSplit, est: Any,
                        key: str) -> dict[str, Any]:
        ckey = stable_hash([spec.name, key, self.cfg.n_resamples, self.cfg.confidence, self.cfg.seed,
                            self.cfg.bound_form, self.cfg.entropy_scale, self.cfg.divergence])
        path = self.state.path("scenarios", f"{_safe(spec.name)}.{ckey}.json")
        if path.is_file():
            self.stages.hit("scenarios", True)
            return json.loads(path.read_text(encoding="utf-8"))["result"]
        res = _clean(self._compute_scenario(spec, id_e, e, est))
        _atomic_json(path, {"key": ckey, "result": res})
        self.stages.hit("scenarios", False)
        return res

    def _compute_scenario(self, spec: ScenarioSpec, id_e: EmbeddedSplit, e: EmbeddedSplit,
                          est: Any) -> dict[str, Any]:
        from mllmshift.metrics import bootstrap_emid, emid_upper_bound, id_output_term

        div = self._divergence()
        scale = self.cfg.entropy_scale if self.cfg.bound_form == "theorem" else None
        comparable = self._comparable(id_e, e)
        complete = comparable and e.reference is not None and e.response is not None
        notes = list(spec.notes)
        res: dict[str, Any] = {"name": spec.name, "group": spec.group, "kind": spec.kind, "n": len(e),
                               "metadata": dict(spec.metadata), "partial": not complete, "has_reference":
                               e.reference is not None}
        if complete:
            emi_ood = self._emi_block(e, est, spec.name)
            res["emi"] = emi_ood
            res["emid"] = {"value": self._id_emi_value - emi_ood["value"]}  # EMI(ID) − EMI(shifted)
            if self.cfg.n_resamples > 0:
                res["emid"]["ci"] = bootstrap_emid(id_e, e, est, self.cfg.n_resamples,
                                                   derive_seed(self.cfg.seed, "emid", spec.name),
                                                   self.cfg.confidence).to_dict()
            bound = emid_upper_bound(id_e, e, scale, div, id_output=self._id_output)
        else:
            if e.reference is None:
                notes.append("no reference answers: EMI, EMID and JSD(Q_Ŷ‖Q_Y) need them and are not computed")
            if not comparable:
                notes.append("no visual input (or X built differently from the ID split): I(X;Ŷ) and "
                             "JSD(P_Xv‖Q_Xv) are not computed")
            a, b = id_e, e
            if (a.x_visual is None) != (b.x_visual is None):
                a, b = replace(a, x_visual=None), replace(b, x_visual=None)
            bound = emid_upper_bound(a, b, scale, div, id_output=self._id_output)
            if comparable and e.response is not None:
                res["mi_response"] = float(est.mi(e.x, e.response))
        self._id_output = self._id_output or id_output_term(bound)
        res["bound"] = bound.to_dict()
        if e.response is not None and id_e.response is not None:
            res["jsd_response"] = max(float(div.divergence(id_e.response, e.response)), 0.0)
        res["notes"] = notes
        return res

    # -------------------------------------------------------------- stage 6: aggregate
    def run(self) -> StudyResult:
        if self.cfg.threads is None:
            return self._run()
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.cfg.threads)
        try:
            return self._run()
        finally:
            torch.set_num_threads(before)

    def _run(self) -> StudyResult:
        t0 = time.perf_counter()
        plan = self.plan()
        splits = [plan.id_split, *(s.split for s in plan.scenarios)]
        splits = self.respond(splits)
        embedded, keys = self.embed(splits)
        id_e = embedded[0]
        est, est_info = self.estimator(embedded, keys)
        t = time.perf_counter()
        id_res = self.id_result(id_e, est, stable_hash([est_info["key"], keys[id_e.name]]))
        self._id_emi_value = id_res["emi"]["value"]
        scen_results = []
        items = list(zip(plan.scenarios, embedded[1:]))
        for spec, e in _progress(items, "scenarios", self.progress):
            k = stable_hash([est_info["key"], keys[id_e.name], keys[e.name]])
            scen_results.append(self.scenario_result(spec, id_e, e, est, k))
        self.stages.seconds["scenarios"] = time.perf_counter() - t
        judge = load_judge_scores(self.cfg.judge) if self.cfg.judge else {}
        rows = [scenario_row(r, judge.get(r["name"], {})) for r in scen_results]
        results = self._assemble(plan, id_res, scen_results, rows, judge, est_info)
        results["run"] = {"wall_s": round(time.perf_counter() - t0, 3), "stages": self.stages.to_dict(),
                          "created": environment()["created"], "out": str(self.out.resolve())}
        from mllmshift.report import write_report

        files = write_outputs(results, rows, self.out)
        files.update(write_report(results, self.out))
        results["run"]["files"] = {k: str(v.name) for k, v in files.items()}
        _atomic_json(self.out / "results.json", results)
        return StudyResult(results, self.out, files)

    def _assemble(self, plan: StudyPlan, id_res: dict[str, Any], scen: list[dict[str, Any]],
                  rows: list[dict[str, Any]], judge: dict[str, dict[str, float]],
                  est_info: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        cor: dict[str, Any] = {"emid_vs_bound": correlations_by_group(
            rows, "emid", "bound", n_resamples=cfg.correlation_resamples, seed=cfg.seed, confidence=cfg.confidence)}
        kinds = sorted({r["kind"] for r in rows if r.get("kind")})
        if len(kinds) > 1:  # e.g. the paper's synthetic and natural sets, each with its groups
            cor["emid_vs_bound_by_kind"] = {k: correlations_by_group(
                [r for r in rows if r.get("kind") == k], "emid", "bound", n_resamples=cfg.correlation_resamples,
                seed=derive_seed(cfg.seed, "kind", k), confidence=cfg.confidence) for k in kinds}
        judge_keys = sorted({k for v in judge.values() for k in v})
        if judge_keys:
            cor["emi_vs_judge"] = {k: correlations_by_group(rows, "emi", k, n_resamples=cfg.correlation_resamples,
                                                            seed=cfg.seed, confidence=cfg.confidence)
                                   for k in judge_keys}
        env = environment()
        seeds = {"global": cfg.seed, "estimator": cfg.seed,
                 "bootstrap_emi": {r["name"]: derive_seed(cfg.seed, "emi", r["name"]) for r in
                                   [{"name": plan.id_split.name}, *scen] if r["name"]},
                 "bootstrap_emid": {r["name"]: derive_seed(cfg.seed, "emid", r["name"]) for r in scen},
                 "derivation": "derive_seed(seed, 'emi'|'emid', scenario) = first 8 hex of sha256(json)"}
        return _clean({
            "schema": SCHEMA,
            "title": cfg.title,
            "config": cfg.to_dict(),
            "seeds": seeds,
            "versions": env["versions"],
            "python": env["python"],
            "platform": env["platform"],
            "encoders": self.encoder_info(),
            "estimator": est_info,
            "data": {"id": {"name": plan.id_split.name, "n": len(plan.id_split),
                            "source": dict(plan.id_split.metadata).get("source")},
                     "n_scenarios": len(scen), "groups": {g: sum(r["group"] == g for r in scen) for g in GROUPS},
                     "notes": list(plan.notes),
                     "responder": None if cfg.responder is None else {
                         "label": plan.responder_label or _responder_label(cfg.responder.name),
                         "baseline": cfg.responder.name == "baseline",
                         "config": getattr(self, "_responder_config", {"name": cfg.responder.name})}},
            "id": id_res,
            "scenarios": scen,
            "correlations": cor,
            "summary": summarise(id_res, rows, cor),
        })


def _responder_label(name: str) -> str:
    if ":" not in name:
        try:
            from mllmshift.responders import responders

            return str(getattr(responders.get(name), "label", name))
        except Exception:  # noqa: BLE001 - a label is cosmetic
            return name
    return name


# ------------------------------------------------------------------------------------------ rows & summary
def scenario_row(r: dict[str, Any], judge: dict[str, float] | None = None) -> dict[str, Any]:
    """One flat row of scenarios.csv from a scenario result."""
    emi = r.get("emi") or {}
    emid = r.get("emid") or {}
    b = r.get("bound") or {}
    meta = r.get("metadata") or {}
    row = {
        "scenario": r["name"], "group": r["group"], "kind": r.get("kind"), "n": r.get("n"),
        "partial": bool(r.get("partial")),
        "emi": emi.get("value"), "emi_low": (emi.get("ci") or {}).get("low"),
        "emi_high": (emi.get("ci") or {}).get("high"),
        "emid": emid.get("value"), "emid_low": (emid.get("ci") or {}).get("low"),
        "emid_high": (emid.get("ci") or {}).get("high"),
        "bound": b.get("value"), "jsd_visual": b.get("jsd_visual"), "jsd_text": b.get("jsd_text"),
        "jsd_id_output": b.get("jsd_id_output"), "jsd_ood_output": b.get("jsd_ood_output"),
        "jsd_response": r.get("jsd_response"),
        "mi_response": emi.get("mi_response", r.get("mi_response")), "mi_reference": emi.get("mi_reference"),
        "visual": meta.get("visual"), "severity": meta.get("severity"), "text": meta.get("text"),
        "level": meta.get("level"),
    }
    for k, v in (judge or {}).items():
        row[k] = v
    row.setdefault("win_rate", None)
    row.setdefault("relative_score", None)
    return row


def _mean(vals: Sequence[float | None]) -> float | None:
    v = [x for x in vals if x is not None]
    return float(np.mean(v)) if v else None


def summarise(id_res: dict[str, Any], rows: list[dict[str, Any]], cor: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers printed at the end of a run and shown first in the report."""
    complete = [r for r in rows if not r["partial"]]
    out: dict[str, Any] = {
        "id_emi": id_res["emi"]["value"],
        "n_scenarios": len(rows), "n_complete": len(complete), "n_partial": len(rows) - len(complete),
        "mean_emi": _mean([r["emi"] for r in complete]), "mean_emid": _mean([r["emid"] for r in complete]),
        "mean_bound": _mean([r["bound"] for r in complete]),
        "per_group": {g: {"n": sum(r["group"] == g for r in complete),
                          "mean_emi": _mean([r["emi"] for r in complete if r["group"] == g]),
                          "mean_emid": _mean([r["emid"] for r in complete if r["group"] == g])}
                      for g in GROUPS if any(r["group"] == g for r in rows)},
    }
    allc = cor["emid_vs_bound"].get("all", {})
    out["emid_bound_pearson"] = (allc.get("pearson") or {}).get("r")
    out["emid_bound_pearson_p"] = (allc.get("pearson") or {}).get("p_value")
    out["emid_bound_spearman"] = (allc.get("spearman") or {}).get("r")
    out["emid_bound_kendall"] = (allc.get("kendall") or {}).get("r")
    ranked = sorted(complete, key=lambda r: r["emi"])
    if ranked:
        out["worst_scenario"] = {"name": ranked[0]["scenario"], "emi": ranked[0]["emi"], "emid": ranked[0]["emid"]}
        out["best_scenario"] = {"name": ranked[-1]["scenario"], "emi": ranked[-1]["emi"], "emid": ranked[-1]["emid"]}
    sev = {}
    for r in complete:
        if r.get("severity") is not None and r.get("group") == "visual":
            sev.setdefault(int(r["severity"]), []).append(r["emi"])
    if sev:
        out["mean_emi_by_visual_severity"] = {str(k): float(np.mean(v)) for k, v in sorted(sev.items())}
    return out


def write_outputs(results: dict[str, Any], rows: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    """``scenarios.csv`` (and results.json is written last by the runner)."""
    extra = sorted({k for r in rows for k in r} - set(CSV_FIELDS))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*CSV_FIELDS, *extra], lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]))
                    for k in w.fieldnames})
    atomic_write_text(out / "scenarios.csv", buf.getvalue())
    return {"results.json": out / "results.json", "scenarios.csv": out / "scenarios.csv"}


# ------------------------------------------------------------------------------------------ judge scores
def load_judge_scores(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Per-scenario judge scores from CSV or JSON: ``scenario`` plus numeric columns (``win_rate``, ...).

    A folder of ``mllmshift judge`` summaries (``*.summary.json``) is read with
    :func:`mllmshift.judge.load_scores`, keeping ``win_rate`` and ``relative_score``.

    JSON may be a list of objects with a ``scenario`` key, or a mapping scenario → {column: value}.
    (Compatible with :func:`mllmshift.judge.load_scores` files.) A non-numeric value raises a
    :class:`~mllmshift.errors.DataError` naming file, line and column.
    """
    from mllmshift.errors import DataError

    p = Path(path)
    if p.is_dir() or p.name.endswith(".summary.json"):  # `mllmshift judge` output: delegate to its reader
        from mllmshift.judge import load_scores

        return {name: {k: float(v[k]) for k in ("win_rate", "relative_score") if isinstance(v.get(k), (int, float))}
                for name, v in load_scores(p).items()}
    if not p.is_file():
        raise DataError("judge score file not found", path=p)
    records: list[tuple[int, dict[str, Any]]]
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"bad JSON: {err.msg}", path=p, line=err.lineno) from None
        if isinstance(data, dict):
            records = [(0, {"scenario": k, **v}) for k, v in data.items() if isinstance(v, dict)]
        elif isinstance(data, list):
            records = [(i + 1, r) for i, r in enumerate(data) if isinstance(r, dict)]
        else:
            raise DataError("expected a list of objects or a mapping scenario → scores", path=p)
    else:
        with p.open(encoding="utf-8", newline="") as fh:
            records = [(i + 2, dict(r)) for i, r in enumerate(csv.DictReader(fh))]
    out: dict[str, dict[str, float]] = {}
    for line, rec in records:
        name = rec.get("scenario")
        if not name:
            raise DataError("missing", path=p, line=line or None, field="scenario")
        scores: dict[str, float] = {}
        for k, v in rec.items():
            if k == "scenario" or v in (None, ""):
                continue
            try:
                scores[k] = float(v)
            except (TypeError, ValueError):
                raise DataError(f"expected a number, got {v!r}", path=p, line=line or None, field=k) from None
        out[str(name)] = scores
    return out


def run_study(config: StudyConfig, out: str | os.PathLike[str], *, progress: bool = True,
              plan: StudyPlan | None = None) -> StudyResult:
    """Run (or resume) a study; see :class:`StudyRunner`."""
    return StudyRunner(config, out, progress=progress, plan=plan).run()
