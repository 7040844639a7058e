"""The study configuration: what a ``mllmshift study CONFIG`` run measures, read from YAML.

A config names the in-distribution split, the shifted scenarios, the encoders,
the MI estimator, the form of the EMID bound and the bootstrap sizes::

    title: My model under shift          # optional
    seed: 0
    id: data/id.jsonl                     # or {path: ..., format: llava, options: {...}, name: ...}
    scenarios:
      - {path: data/frost_3.jsonl, group: visual}      # one file (group inferred from the name if left out)
      - {folder: data/shifted/}                        # every *.jsonl (or */samples.jsonl) in a folder
      - {grid: grid.yaml}                              # a shift grid applied to the ID split (or inline mapping)
    responder: null                       # {name: baseline, options: {...}} fills in missing responses
    paper: false                          # true: the paper's estimators (one CLUB, linear RJSD), keys below over them
    encoders: {text: use-multilingual, image: efficientnet-lite0, fusion: auto}
    estimator: {name: club, options: {}, checkpoint: null, n_estimators: 3, folds: 3}
                                          # default club (a bare name gets its registry entry's options:
                                          # hidden 250), 3 seeds; the paper's is one club of hidden 500;
                                          # checkpoint: load (any kind) instead of
                                          # train (n_estimators then 1); n_estimators: an ensemble of K seeds;
                                          # folds: cross-fitting folds by sample id (0: score in-sample)
    bound: {form: scale-adjusted, entropy_scale: null, divergence: rjsd-debiased}   # rjsd is the paper's
    bootstrap: {n_resamples: 1000, confidence: 0.95, scheme: auto}   # scheme: multinomial | poisson | auto
    correlation: {n_resamples: 1000}
    judge: scores.csv                     # optional: per-scenario win_rate / relative_score
    fit: {splits: [data/pool.jsonl], name: bench-pool}   # optional: fit the estimator once on this declared
                                          # fitting set (as `mllmshift fit`) instead of the study's own splits
    preset: null                          # or {name: llava_bench, options: {...}} to build id + scenarios
    threads: null                         # CPU threads of the run; null: mllmshift.threads.choose_threads()
    plugins: []                           # modules allowed to provide module:Class components
    device: cpu                           # auto | cpu | cuda: encoders, estimator training and scoring
    engine: {name: local}                 # or {name: ray, address: ray://head:10001, concurrency: 2} (docs/scale.md)

The settings keys (paper, encoders, estimator, bound, bootstrap, seed, threads, device, plugins: the table of
:mod:`mllmshift.settings`) make the study's :class:`~mllmshift.evaluation.config.EvalConfig`
(``StudyConfig.eval``), the one config every verb uses, resolved as flags are; the rest is study-only. Relative paths are resolved against the config file's folder. Every
malformed value raises a :class:`~mllmshift.errors.DataError` naming the file, the line and the field
(``scenarios[2].path``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.engines import EngineConfig
from mllmshift.evaluation.config import EvalConfig
from mllmshift.provenance import stable_hash
from mllmshift.study.config_parser import Parser
from mllmshift.study.sources import FitSource, ScenarioSource, SplitSource

__all__ = ["StudyConfig", "SplitSource", "ScenarioSource"]

@dataclass(frozen=True)
class StudyConfig:
    """A parsed, validated study configuration: the evaluation config plus what only a study has."""

    id: SplitSource | None
    scenarios: tuple[ScenarioSource, ...] = ()
    eval: EvalConfig = field(default_factory=EvalConfig)
    title: str = "Distribution-shift study"
    correlation_resamples: int = 1000
    judge: str | None = None
    responder: Component | None = None
    preset: Component | None = None
    source: str | None = None
    #: where embedding runs (``engine: {name: ray, address: ...}``; docs/scale.md); does not change the numbers
    engine: EngineConfig = field(default_factory=EngineConfig)
    #: the declared fitting set (``fit: {splits: [...], name: ...}``); None: fit on the study's own splits
    fit: FitSource | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> StudyConfig:
        """Read and validate a YAML config file (UTF-8, no duplicate keys: :mod:`mllmshift.io.yaml_strict`)."""
        from mllmshift.io.yaml_strict import load_yaml

        p = Path(path)
        doc = load_yaml(p, "config file")
        return cls.from_dict(doc.data, base_dir=p.parent, source=p, lines=doc.lines)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | os.PathLike[str] = ".", source: str | os.PathLike[str] | None = None,
                  lines: Mapping[str, int] | None = None) -> StudyConfig:
        """Validate a config mapping; relative paths are resolved against ``base_dir``."""
        parser = Parser(Path(base_dir), None if source is None else Path(source), dict(lines or {}))
        return cls(**parser.parse(data))

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain JSON-able data (written into results.json)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "eval"}
        out["eval"] = self.eval.to_dict()
        if out["fit"] is None:  # absent unless given, so configs without it keep their fingerprint
            del out["fit"]
        return json.loads(json.dumps(out, default=_jsonify))

    def study_part(self) -> dict[str, Any]:
        """:meth:`to_dict` without the evaluation config (what ``StudyResult.study`` holds)."""
        return {k: v for k, v in self.to_dict().items() if k != "eval"}

    def to_yaml_dict(self) -> dict[str, Any]:
        """The config in the YAML layout :meth:`from_dict` reads (paths already resolved)."""
        d, e = self.to_dict(), self.eval.to_dict()
        comp = lambda c: None if c is None else (c["name"] if not c["options"] else c)  # noqa: E731
        out: dict[str, Any] = {"title": d["title"], "seed": e["seed"], "threads": e["threads"]}
        if d["id"] is not None:
            out["id"] = _compact(d["id"], {"format": "auto", "name": None, "options": {}})
        out["scenarios"] = [_compact(s, {"path": None, "folder": None, "grid": None, "name": None, "group": None,
                                         "format": "auto", "options": {}, "metadata": {}}) for s in d["scenarios"]]
        out["responder"] = comp(d["responder"])
        out["encoders"] = {"text": comp(e["text_encoder"]), "image": comp(e["image_encoder"]), "fusion": e["fusion"]}
        out["estimator"] = {**e["estimator"], "checkpoint": e["checkpoint"], "n_estimators": e["n_estimators"],
                            "folds": e["folds"]}
        out["bound"] = {"form": e["bound_form"], "entropy_scale": e["entropy_scale"], "divergence": comp(e["divergence"])}
        out["bootstrap"] = {"n_resamples": e["n_resamples"], "confidence": e["confidence"],
                            "scheme": e["bootstrap_scheme"]}
        out["correlation"] = {"n_resamples": d["correlation_resamples"]}
        out["judge"] = d["judge"]
        out["preset"] = d["preset"]
        out["plugins"] = e["plugins"]
        out["device"] = e["device"]
        if d.get("fit") is not None:
            out["fit"] = {"splits": [_compact(s, {"format": "auto", "name": None, "options": {}})
                                     for s in d["fit"]["splits"]], "name": d["fit"]["name"]}
        if d["engine"]["name"] != "local":
            out["engine"] = {k: v for k, v in d["engine"].items() if k != "options"}
        return out

    def fingerprint(self) -> str:
        """A hash of everything that changes the results (not where the config was read from, not threads)."""
        d = self.to_dict()
        d.pop("source")
        d.pop("engine")
        d["eval"].pop("threads")
        d["eval"].pop("device")
        return stable_hash(d)

    def with_(self, **changes: Any) -> StudyConfig:
        """A copy with some fields changed; :class:`EvalConfig` fields (``seed``, ``n_resamples``, ...) change
        :attr:`eval` (checked again)."""
        eval_names = {f.name for f in fields(EvalConfig)}
        eval_changes = {k: v for k, v in changes.items() if k in eval_names}
        rest = {k: v for k, v in changes.items() if k not in eval_names}
        if eval_changes:
            rest["eval"] = self.eval.with_(**eval_changes)
        return replace(self, **rest)


def _compact(d: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` without the entries that equal their default."""
    return {k: v for k, v in d.items() if k not in defaults or v != defaults[k]}


def _jsonify(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in fields(obj)}
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")
