"""Reading the fields of a strict YAML config (a study's, a monitor's), every error located: file, line, field.

:class:`FieldReader` checks one value at a time (a path resolved against the config's folder, a mapping with
known keys, a number in a range, a component, a reader format and its options, a split source) and raises a
:class:`~mllmshift.errors.DataError` naming the file, the line (:func:`mllmshift.io.yaml_strict.load_yaml`)
and the field (``scenarios[2].path``). The study's parser and the monitor's config file both use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.errors import DataError
from mllmshift.io.readers import SplitSource
from mllmshift.io.yaml_strict import YamlDocument

__all__ = ["FieldReader"]


class FieldReader:
    """Checks the values of a config mapping read from ``source`` (lines: field → line), paths relative to
    ``base``."""

    def __init__(self, base: Path, source: Path | None, lines: dict[str, int]) -> None:
        self.base, self.source, self.lines = base, source, lines
        self.doc = YamlDocument(None, lines, None if source is None else str(source))


    def error(self, field: str, message: str) -> DataError:
        """An error naming the file, the line of ``field`` (or of the nearest enclosing field) and ``field``."""
        return self.doc.error(message, field)


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
        self.name(spec.get("name"), f"{field}.name")
        return SplitSource(self.path(spec["path"], f"{field}.path"), self.format(spec.get("format"), f"{field}.format"),
                           spec.get("name"), self.options(spec.get("options"), f"{field}.options"))

    def name(self, value: Any, field: str) -> None:
        """A split or scenario name: absent, or a non-empty string (``name: 5`` or a list was a traceback)."""
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(field, f"expected a non-empty string (quote it: name: \"{value}\"), got {value!r}"
                             if isinstance(value, (int, float)) and not isinstance(value, bool)
                             else f"expected a non-empty string, got {value!r}")

    def format(self, value: Any, field: str) -> str:
        """A reader format (a registered reader, :mod:`mllmshift.io.readers`, any spelling; default ``auto``),
        recorded under its registered name."""
        from mllmshift.io.readers import get_reader

        if value is None or value == "auto":
            return "auto"
        try:
            return get_reader(str(value)).name
        except DataError as err:
            raise self.error(field, err.message) from None


    def options(self, value: Any, field: str) -> dict[str, Any]:
        """Reader options; values of path-like keys (options of kind ``path`` of any reader) are resolved against
        the config folder."""
        from mllmshift.io.readers import reader_options

        opts = self.mapping(value, field, set((value or {}) if isinstance(value, Mapping) else ()))
        for key in (k for k, o in reader_options().items() if o.kind == "path"):
            if opts.get(key) is not None:
                opts[key] = self.path(opts[key], f"{field}.{key}")
        return opts
