"""Reading a study config mapping (from YAML) into the fields of a :class:`~mllmshift.study.config.StudyConfig`.

:class:`Parser` checks every key and value and raises a :class:`~mllmshift.errors.DataError` naming the file,
the line (from the strict YAML reader, :func:`mllmshift.io.yaml_strict.load_yaml`) and the field
(``scenarios[2].path``). The keys that set :class:`~mllmshift.evaluation.config.EvalConfig` fields are listed
in :mod:`mllmshift.settings` (the one table of settings); the config's own range checks report under those
names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.engines import ENGINES, EngineConfig
from mllmshift.evaluation.config import EvalConfig
from mllmshift.io.yaml_fields import FieldReader
from mllmshift.settings import YAML_KEYS, file_values, resolve
from mllmshift.study.sources import FitSource, ScenarioSource
from mllmshift.vocab import GROUPS

_TOP_KEYS = {"title", "id", "scenarios", "responder", "correlation", "judge", "preset", "engine", "fit", *YAML_KEYS}


class Parser(FieldReader):
    """Validates a config mapping into the fields of a :class:`StudyConfig`, locating every error (file, line,
    field)."""

    def registered(self, kind: str, name: str, field: str, plugins: Any) -> None:
        """A component name that is neither registered nor an allowed plugin is an error at ``field``."""
        from mllmshift.components import check_name
        from mllmshift.errors import MllmshiftError

        allowed = tuple(p for p in plugins if isinstance(p, str)) if isinstance(plugins, list) else ()
        try:
            check_name(kind, name, allowed=allowed)
        except MllmshiftError as err:
            raise self.error(field, str(err)) from None

    def fit_set(self, value: Any, ev: Any) -> FitSource | None:
        """``fit: {splits: [path | {path, format, name, options}, ...], name: NAME}``: the declared fitting set
        the study fits its estimator on (instead of its own splits' pooled pairs)."""
        if value is None:
            return None
        spec = self.mapping(value, "fit", {"splits", "name"})
        splits = spec.get("splits")
        if not isinstance(splits, list) or not splits:
            raise self.error("fit.splits", "required: a non-empty list of files whose pairs the estimator is fitted on")
        if ev.checkpoint is not None:
            raise self.error("fit", "give either a fitting set to fit on or estimator.checkpoint to load, not both")
        name = spec.get("name")
        return FitSource(tuple(self.split(v, f"fit.splits[{i}]") for i, v in enumerate(splits)),
                         None if name is None else str(name))

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
        self.name(spec.get("name"), f"{field}.name")
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
        """The :class:`EvalConfig` of a config's settings keys (:data:`mllmshift.settings.YAML_KEYS`) over
        ``defaults`` (a verb's), errors located (:func:`mllmshift.settings.resolve`)."""
        return resolve(None, file_values(top, self.doc, self.base), defaults, doc=self.doc)

    def parse(self, data: Any) -> dict[str, Any]:
        """The keyword arguments of :class:`~mllmshift.study.config.StudyConfig` that ``data`` gives."""
        top = self.mapping(data, "", _TOP_KEYS)
        kw: dict[str, Any] = {}
        preset = self.component(top.get("preset"), "preset", allow_none=True)
        if preset is not None:
            opts = dict(preset.options)
            for key in ("root", "data", "responses"):
                if isinstance(opts.get(key), str):
                    opts[key] = self.path(opts[key], f"preset.options.{key}")
            from mllmshift.study.presets import presets

            preset = Component(presets.canonical(preset.name), opts)
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
        kw["fit"] = self.fit_set(top.get("fit"), kw["eval"])
        kw["source"] = None if self.source is None else str(self.source.resolve())
        return kw
