"""Reading a study config mapping (from YAML) into a :class:`~mllmshift.study.config.StudyConfig`.

:class:`Parser` checks every key and value and raises a :class:`~mllmshift.errors.DataError` naming the file,
the line (from the strict YAML reader, :func:`mllmshift.io.yaml_strict.load_yaml`) and the field
(``scenarios[2].path``). The keys that set :class:`~mllmshift.evaluation.config.EvalConfig` fields are listed
in :data:`YAML_FIELDS`; the config's own range checks report under those names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.engines import ENGINES, EngineConfig
from mllmshift.errors import DataError
from mllmshift.evaluation.config import EvalConfig, renamed_fields
from mllmshift.io.yaml_strict import YamlDocument
from mllmshift.study.config import ScenarioSource, SplitSource, StudyConfig
from mllmshift.vocab import BOUND_FORMS, DEFAULT_MI_ESTIMATOR, FUSIONS, GROUPS, default_estimator_options

#: the top-level keys that set EvalConfig fields (shared with the monitor's config file)
EVAL_KEYS = frozenset({"seed", "encoders", "estimator", "bound", "bootstrap", "threads", "plugins", "device"})
_TOP_KEYS = {"title", "id", "scenarios", "responder", "correlation", "judge", "preset", "engine", *EVAL_KEYS}
#: EvalConfig field → the YAML field that sets it
YAML_FIELDS = {"text_encoder": "encoders.text", "image_encoder": "encoders.image", "fusion": "encoders.fusion",
               "text_encoder_options": "encoders.text", "image_encoder_options": "encoders.image",
               "estimator": "estimator.name", "estimator_options": "estimator.options",
               "checkpoint": "estimator.checkpoint", "n_estimators": "estimator.n_estimators",
               "folds": "estimator.folds", "divergence": "bound.divergence", "bound_form": "bound.form",
               "entropy_scale": "bound.entropy_scale", "n_resamples": "bootstrap.n_resamples",
               "confidence": "bootstrap.confidence", "seed": "seed", "threads": "threads", "plugins": "plugins",
               "device": "device", "bootstrap_scheme": "bootstrap.scheme"}


class Parser:
    """Validates a config mapping into a :class:`StudyConfig`, locating every error (file, line, field)."""

    def __init__(self, base: Path, source: Path | None, lines: dict[str, int]) -> None:
        self.base, self.source, self.lines = base, source, lines
        self.doc = YamlDocument(None, lines, None if source is None else str(source))

    def error(self, field: str, message: str) -> DataError:
        """An error naming the file, the line of ``field`` (or of the nearest enclosing field) and ``field``."""
        return self.doc.error(message, field)

    def registered(self, kind: str, name: str, field: str, plugins: Any) -> None:
        """A component name that is neither registered nor an allowed plugin is an error at ``field``."""
        from mllmshift.components import check_name
        from mllmshift.errors import MllmshiftError

        allowed = tuple(p for p in plugins if isinstance(p, str)) if isinstance(plugins, list) else ()
        try:
            check_name(kind, name, allowed=allowed)
        except MllmshiftError as err:
            raise self.error(field, str(err)) from None

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
        return SplitSource(self.path(spec["path"], f"{field}.path"), self.format(spec.get("format"), f"{field}.format"),
                           spec.get("name"), self.options(spec.get("options"), f"{field}.options"))

    def format(self, value: Any, field: str) -> str:
        """A reader format (:data:`mllmshift.io.readers.FORMATS`; default ``auto``)."""
        from mllmshift.io.readers import FORMATS

        if value is None:
            return "auto"
        if value not in FORMATS:
            raise self.error(field, f"unknown format {value!r}; choose from {', '.join(FORMATS)}")
        return str(value)

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
        if group is not None and group not in GROUPS:
            raise self.error(f"{field}.group", f"expected visual, text or joint, got {group!r}")
        grid = spec.get("grid")
        if grid is not None and not isinstance(grid, Mapping):
            grid = self.path(grid, f"{field}.grid")
        return ScenarioSource(
            path=None if spec.get("path") is None else self.path(spec["path"], f"{field}.path"),
            folder=None if spec.get("folder") is None else self.path(spec["folder"], f"{field}.folder"),
            grid=grid, name=spec.get("name"), group=group, format=self.format(spec.get("format"), f"{field}.format"),
            options=self.options(spec.get("options"), f"{field}.options"),
            metadata=self.mapping(spec.get("metadata"), f"{field}.metadata", set(spec.get("metadata") or {})),
        )

    def engine(self, value: Any) -> EngineConfig:
        """``engine: ray`` or ``engine: {name, address, concurrency, batch_size}`` (docs/scale.md)."""
        eng = self.mapping({"name": value} if isinstance(value, str) else value, "engine",
                           {"name", "address", "concurrency", "batch_size"})
        name = eng.get("name", "local")
        if name not in ENGINES:
            raise self.error("engine.name", f"expected one of {', '.join(ENGINES)}, got {name!r}")
        address = eng.get("address")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise self.error("engine.address", f"expected a Ray address (auto, ray://host:10001), got {address!r}")
        return EngineConfig(name, address, self.number(eng.get("concurrency", 1), "engine.concurrency", int, low=1),
                            self.number(eng.get("batch_size", 256), "engine.batch_size", int, low=1))

    def eval_config(self, top: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> EvalConfig:
        """The :class:`EvalConfig` of a config's top-level keys that set its fields (:data:`EVAL_KEYS`; the
        fields :data:`YAML_FIELDS` names), errors located; ``defaults`` are the fields not given (the study's:
        EvalConfig's own). Shared with the monitor's config file."""
        ev: dict[str, Any] = dict(defaults or {})  # EvalConfig fields
        if "seed" in top:
            ev["seed"] = self.number(top["seed"], "seed", int, low=0)
        enc = self.mapping(top.get("encoders"), "encoders", {"text", "image", "fusion"})
        if "text" in enc:
            ev["text_encoder"] = self.component(enc["text"], "encoders.text")
        if "image" in enc:
            ev["image_encoder"] = self.component(enc["image"], "encoders.image", allow_none=True)
        if "fusion" in enc:
            if enc["fusion"] not in FUSIONS:
                raise self.error("encoders.fusion", f"expected one of {', '.join(FUSIONS)}, got {enc['fusion']!r}")
            ev["fusion"] = enc["fusion"]
        est = top.get("estimator")
        if isinstance(est, str):
            est = {"name": est}
        est = self.mapping(est, "estimator", {"name", "options", "checkpoint", "n_estimators", "folds"})
        if est:
            name = est.get("name", DEFAULT_MI_ESTIMATOR)
            options = est.get("options")
            ev["estimator"] = self.component({"name": name, "options": default_estimator_options(name)
                                              if options is None and isinstance(name, str) else options}, "estimator")
            if est.get("checkpoint") is not None:
                ev["checkpoint"] = self.path(est["checkpoint"], "estimator.checkpoint")
                if not Path(ev["checkpoint"]).is_file():
                    raise self.error("estimator.checkpoint", f"file not found: {ev['checkpoint']}")
            if est.get("n_estimators") is not None:
                ev["n_estimators"] = self.number(est["n_estimators"], "estimator.n_estimators", int, low=1)
            if est.get("folds") is not None:
                ev["folds"] = self.number(est["folds"], "estimator.folds", int, low=0)
        bound = self.mapping(top.get("bound"), "bound", {"form", "entropy_scale", "divergence"})
        if "form" in bound:
            if bound["form"] not in BOUND_FORMS:
                raise self.error("bound.form", f"expected one of {', '.join(BOUND_FORMS)}, got {bound['form']!r}")
            ev["bound_form"] = bound["form"]
        if bound.get("entropy_scale") is not None:
            ev["entropy_scale"] = self.number(bound["entropy_scale"], "bound.entropy_scale", float, low=0,
                                              open_low=True)
        if bound.get("divergence") is not None:
            ev["divergence"] = self.component(bound["divergence"], "bound.divergence")
        boot = self.mapping(top.get("bootstrap"), "bootstrap", {"n_resamples", "confidence", "scheme"})
        if "scheme" in boot:
            ev["bootstrap_scheme"] = boot["scheme"]
        if top.get("device") is not None:
            ev["device"] = top["device"]
        if "n_resamples" in boot:
            ev["n_resamples"] = self.number(boot["n_resamples"], "bootstrap.n_resamples", int, low=0)
        if "confidence" in boot:
            ev["confidence"] = self.number(boot["confidence"], "bootstrap.confidence", float, low=0, high=1,
                                           open_low=True, open_high=True)
        if top.get("threads") is not None:
            ev["threads"] = self.number(top["threads"], "threads", int, low=1)
        if top.get("plugins") is not None:
            plugins = top["plugins"]
            if not isinstance(plugins, list) or not all(isinstance(m, str) and m for m in plugins):
                raise self.error("plugins", f"expected a list of module names, got {plugins!r}")
            ev["plugins"] = tuple(plugins)
        with renamed_fields(YAML_FIELDS, path=self.source, lines=self.lines):
            return EvalConfig(**ev)

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
        kw["eval"] = self.eval_config(top)
        cor = self.mapping(top.get("correlation"), "correlation", {"n_resamples"})
        if "n_resamples" in cor:
            kw["correlation_resamples"] = self.number(cor["n_resamples"], "correlation.n_resamples", int, low=0)
        if top.get("judge") is not None:
            kw["judge"] = self.path(top["judge"], "judge")
            if not Path(kw["judge"]).exists():
                raise self.error("judge", f"file not found: {kw['judge']}")
        kw["responder"] = self.component(top.get("responder"), "responder", allow_none=True)
        if kw["responder"] is not None:
            self.registered("responder", kw["responder"].name, "responder.name" if isinstance(
                top.get("responder"), Mapping) else "responder", top.get("plugins") or ())
        kw["engine"] = self.engine(top.get("engine"))
        kw["source"] = None if self.source is None else str(self.source.resolve())
        return StudyConfig(**kw)
