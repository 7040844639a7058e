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
    encoders: {text: use-multilingual, image: efficientnet-lite0, fusion: auto}
    estimator: {name: smile, options: {}, checkpoint: null}     # default smile; club is the paper's;
                                                                # checkpoint: load (any kind) instead of train
    bound: {form: scale-adjusted, entropy_scale: null, divergence: rjsd-debiased}   # rjsd is the paper's
    bootstrap: {n_resamples: 1000, confidence: 0.95}
    correlation: {n_resamples: 1000}
    judge: scores.csv                     # optional: per-scenario win_rate / relative_score
    preset: null                          # or {name: llava_bench, options: {...}} to build id + scenarios
    threads: null                         # torch CPU threads during the run (1 is fastest for small studies)

Relative paths are resolved against the config file's folder. Every
malformed value raises a :class:`~mllmshift.errors.DataError` naming the
file, the line and the field (``scenarios[2].path``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.estimators.defaults import DEFAULT_DIVERGENCE, DEFAULT_MI_ESTIMATOR

BOUND_FORMS = ("scale-adjusted", "theorem")
_TOP_KEYS = {"title", "seed", "id", "scenarios", "responder", "encoders", "estimator", "bound", "bootstrap",
             "correlation", "judge", "preset", "threads"}


@dataclass(frozen=True)
class SplitSource:
    """Where one split comes from: a file or folder read with :func:`mllmshift.io.read_split`."""

    path: str
    format: str = "auto"
    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioSource:
    """One entry of ``scenarios``: exactly one of ``path``, ``folder`` or ``grid`` is set."""

    path: str | None = None
    folder: str | None = None
    grid: Any = None  # a path to a grid YAML, or an inline mapping
    name: str | None = None
    group: str | None = None
    format: str = "auto"
    options: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Component:
    """A registry name plus constructor options (encoder, responder, estimator, preset)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyConfig:
    """A parsed, validated study configuration (see the module docstring)."""

    id: SplitSource | None
    scenarios: tuple[ScenarioSource, ...] = ()
    title: str = "Distribution-shift study"
    seed: int = 0
    text_encoder: Component = Component("use-multilingual")
    image_encoder: Component | None = Component("efficientnet-lite0")
    fusion: str = "auto"
    estimator: Component = Component(DEFAULT_MI_ESTIMATOR)
    checkpoint: str | None = None
    bound_form: str = "scale-adjusted"
    entropy_scale: float | None = None
    divergence: str = DEFAULT_DIVERGENCE
    n_resamples: int = 1000
    confidence: float = 0.95
    correlation_resamples: int = 1000
    judge: str | None = None
    responder: Component | None = None
    preset: Component | None = None
    threads: int | None = None
    source: str | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> StudyConfig:
        """Read and validate a YAML config file."""
        import yaml

        p = Path(path)
        if not p.is_file():
            raise DataError("config file not found", path=p)
        text = p.read_text(encoding="utf-8")
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            raise DataError(f"bad YAML: {getattr(err, 'problem', err)}", path=p,
                            line=None if mark is None else mark.line + 1) from None
        lines = _line_index(node)
        return cls.from_dict(data, base_dir=p.parent, source=p, lines=lines)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | os.PathLike[str] = ".", source: str | os.PathLike[str] | None = None,
                  lines: Mapping[str, int] | None = None) -> StudyConfig:
        """Validate a config mapping; relative paths are resolved against ``base_dir``."""
        return _Parser(Path(base_dir), None if source is None else Path(source), dict(lines or {})).parse(data)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain JSON-able data (written into results.json)."""
        return json.loads(json.dumps(asdict(self), default=_jsonify))

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def with_(self, **changes: Any) -> StudyConfig:
        from dataclasses import replace

        return replace(self, **changes)


def _jsonify(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _line_index(node: Any, prefix: str = "") -> dict[str, int]:
    """Dotted field path (``scenarios[1].path``) → 1-based line, from a composed YAML node tree."""
    import yaml

    out: dict[str, int] = {}
    if node is None:
        return out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            out[path] = key.start_mark.line + 1
            out.update(_line_index(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            out[path] = item.start_mark.line + 1
            out.update(_line_index(item, path))
    return out


class _Parser:
    def __init__(self, base: Path, source: Path | None, lines: dict[str, int]) -> None:
        self.base, self.source, self.lines = base, source, lines

    def error(self, field: str, message: str) -> DataError:
        line = self.lines.get(field)
        probe = field
        while line is None and ("." in probe or "[" in probe):
            probe = probe[: max(probe.rfind("."), probe.rfind("["))]
            line = self.lines.get(probe)
        return DataError(message, path=self.source, line=line, field=field)

    def path(self, value: Any, field: str) -> str:
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise self.error(field, f"expected a path, got {value!r}")
        p = Path(os.path.expanduser(str(value)))
        return str(p if p.is_absolute() else (self.base / p).resolve())

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(field, f"expected a mapping, got {type(value).__name__}")
        unknown = set(value) - allowed
        if unknown:
            raise self.error(f"{field}.{sorted(unknown)[0]}" if field else sorted(unknown)[0],
                             f"unknown key; allowed: {', '.join(sorted(allowed))}")
        return dict(value)

    def number(self, value: Any, field: str, kind: type, *, low: float | None = None, high: float | None = None,
               open_low: bool = False, open_high: bool = False) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise self.error(field, f"expected {'an integer' if kind is int else 'a number'}, got {value!r}")
        if low is not None and (value < low or (open_low and value == low)):
            raise self.error(field, f"must be {'>' if open_low else '>='} {low}, got {value}")
        if high is not None and (value > high or (open_high and value == high)):
            raise self.error(field, f"must be {'<' if open_high else '<='} {high}, got {value}")
        return kind(value)

    def component(self, value: Any, field: str, *, allow_none: bool = False) -> Component | None:
        if value is None:
            if allow_none:
                return None
            raise self.error(field, "required")
        if isinstance(value, str):
            return Component(value)
        spec = self.mapping(value, field, {"name", "options"})
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise self.error(f"{field}.name", "expected a registry name or 'module:Attr'")
        options = self.mapping(spec.get("options"), f"{field}.options", set(spec.get("options") or {}))
        return Component(name, options)

    def split(self, value: Any, field: str) -> SplitSource:
        if isinstance(value, (str, os.PathLike)):
            return SplitSource(self.path(value, field))
        spec = self.mapping(value, field, {"path", "format", "name", "options"})
        if "path" not in spec:
            raise self.error(f"{field}.path", "required")
        return SplitSource(self.path(spec["path"], f"{field}.path"), str(spec.get("format", "auto")),
                           spec.get("name"), self.options(spec.get("options"), f"{field}.options"))

    def options(self, value: Any, field: str) -> dict[str, Any]:
        """Reader options; values of path-like keys are resolved against the config folder."""
        opts = self.mapping(value, field, set((value or {}) if isinstance(value, Mapping) else ()))
        for key in ("questions", "references", "captions", "image_folder", "image_dir"):
            if opts.get(key) is not None:
                opts[key] = self.path(opts[key], f"{field}.{key}")
        return opts

    def scenario(self, value: Any, field: str) -> ScenarioSource:
        if isinstance(value, (str, os.PathLike)):
            p = self.path(value, field)
            return ScenarioSource(folder=p) if Path(p).is_dir() else ScenarioSource(path=p)
        spec = self.mapping(value, field, {"path", "folder", "grid", "name", "group", "format", "options",
                                            "metadata"})
        kinds = [k for k in ("path", "folder", "grid") if spec.get(k) is not None]
        if len(kinds) != 1:
            raise self.error(field, "give exactly one of 'path', 'folder' or 'grid'")
        group = spec.get("group")
        if group is not None and group not in ("visual", "text", "joint"):
            raise self.error(f"{field}.group", f"expected visual, text or joint, got {group!r}")
        grid = spec.get("grid")
        if grid is not None and not isinstance(grid, Mapping):
            grid = self.path(grid, f"{field}.grid")
        return ScenarioSource(
            path=None if spec.get("path") is None else self.path(spec["path"], f"{field}.path"),
            folder=None if spec.get("folder") is None else self.path(spec["folder"], f"{field}.folder"),
            grid=grid, name=spec.get("name"), group=group, format=str(spec.get("format", "auto")),
            options=self.options(spec.get("options"), f"{field}.options"),
            metadata=self.mapping(spec.get("metadata"), f"{field}.metadata", set(spec.get("metadata") or {})),
        )

    def parse(self, data: Any) -> StudyConfig:
        top = self.mapping(data, "", _TOP_KEYS)
        kw: dict[str, Any] = {}
        preset = self.component(top.get("preset"), "preset", allow_none=True)
        if preset is not None:
            opts = dict(preset.options)
            for key in ("root", "data", "responses"):
                if isinstance(opts.get(key), str):
                    opts[key] = self.path(opts[key], f"preset.options.{key}")
            preset = Component(preset.name, opts)
        kw["preset"] = preset
        if top.get("id") is None and preset is None:
            raise self.error("id", "required (the in-distribution split), unless a preset gives it")
        kw["id"] = None if top.get("id") is None else self.split(top["id"], "id")
        scen = top.get("scenarios") or []
        if not isinstance(scen, list):
            raise self.error("scenarios", f"expected a list, got {type(scen).__name__}")
        if not scen and preset is None:
            raise self.error("scenarios", "required: at least one shifted scenario")
        kw["scenarios"] = tuple(self.scenario(s, f"scenarios[{i}]") for i, s in enumerate(scen))
        if "title" in top:
            kw["title"] = str(top["title"])
        if "seed" in top:
            kw["seed"] = self.number(top["seed"], "seed", int, low=0)
        enc = self.mapping(top.get("encoders"), "encoders", {"text", "image", "fusion"})
        if "text" in enc:
            kw["text_encoder"] = self.component(enc["text"], "encoders.text")
        if "image" in enc:
            kw["image_encoder"] = self.component(enc["image"], "encoders.image", allow_none=True)
        if "fusion" in enc:
            if enc["fusion"] not in ("auto", "mean", "concat", "text"):
                raise self.error("encoders.fusion", f"expected auto, mean, concat or text, got {enc['fusion']!r}")
            kw["fusion"] = enc["fusion"]
        est = top.get("estimator")
        if isinstance(est, str):
            est = {"name": est}
        est = self.mapping(est, "estimator", {"name", "options", "checkpoint"})
        if est:
            kw["estimator"] = self.component({"name": est.get("name", DEFAULT_MI_ESTIMATOR),
                                              "options": est.get("options")},
                                             "estimator")
            if est.get("checkpoint") is not None:
                kw["checkpoint"] = self.path(est["checkpoint"], "estimator.checkpoint")
                if not Path(kw["checkpoint"]).is_file():
                    raise self.error("estimator.checkpoint", f"file not found: {kw['checkpoint']}")
        bound = self.mapping(top.get("bound"), "bound", {"form", "entropy_scale", "divergence"})
        if "form" in bound:
            if bound["form"] not in BOUND_FORMS:
                raise self.error("bound.form", f"expected one of {', '.join(BOUND_FORMS)}, got {bound['form']!r}")
            kw["bound_form"] = bound["form"]
        if bound.get("entropy_scale") is not None:
            kw["entropy_scale"] = self.number(bound["entropy_scale"], "bound.entropy_scale", float, low=0,
                                              open_low=True)
        if "divergence" in bound:
            kw["divergence"] = str(bound["divergence"])
            from mllmshift.estimators import divergence_estimators

            if ":" not in kw["divergence"] and kw["divergence"] not in divergence_estimators:
                raise self.error("bound.divergence", f"unknown divergence estimator {kw['divergence']!r}; known: "
                                 f"{', '.join(divergence_estimators.names())}")
        boot = self.mapping(top.get("bootstrap"), "bootstrap", {"n_resamples", "confidence"})
        if "n_resamples" in boot:
            kw["n_resamples"] = self.number(boot["n_resamples"], "bootstrap.n_resamples", int, low=0)
        if "confidence" in boot:
            kw["confidence"] = self.number(boot["confidence"], "bootstrap.confidence", float, low=0, high=1,
                                           open_low=True, open_high=True)
        cor = self.mapping(top.get("correlation"), "correlation", {"n_resamples"})
        if "n_resamples" in cor:
            kw["correlation_resamples"] = self.number(cor["n_resamples"], "correlation.n_resamples", int, low=0)
        if top.get("judge") is not None:
            kw["judge"] = self.path(top["judge"], "judge")
            if not Path(kw["judge"]).exists():
                raise self.error("judge", f"file not found: {kw['judge']}")
        kw["responder"] = self.component(top.get("responder"), "responder", allow_none=True)
        if top.get("threads") is not None:
            kw["threads"] = self.number(top["threads"], "threads", int, low=1)
        kw["source"] = None if self.source is None else str(self.source.resolve())
        return StudyConfig(**kw)


def copy_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A deep, mutable copy of frozen options (for passing to constructors)."""
    return copy.deepcopy(dict(options))
