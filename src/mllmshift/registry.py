"""One generic registry for encoders, estimators, responders and shifts.

Entries map a stable name (used in configs and result files) to a class or
factory given as ``"module.path:Attribute"``; the module is imported only
when the entry is used, so a missing optional dependency fails that entry
alone, with an error that says what to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mllmshift.errors import MissingDependencyError, MllmshiftError

T = TypeVar("T")


class UnknownEntryError(MllmshiftError, KeyError):
    """A name that no registry entry has."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    """A registry entry: where the object lives and which extra installs it."""

    name: str
    target: str
    extra: str | None = None
    description: str = ""


class Registry(Generic[T]):
    """Name → lazily imported class or factory."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, target: str, *, extra: str | None = None, description: str = "") -> None:
        """Register ``target`` (``"pkg.module:Attr"``) under ``name``."""
        if ":" not in target:
            raise ValueError(f"registry target must look like 'module:attr', got {target!r}")
        if name in self._entries and self._entries[name].target != target:
            raise ValueError(f"{self.kind} '{name}' is already registered to {self._entries[name].target}")
        self._entries[name] = Entry(name, target, extra, description)

    def add(self, name: str, obj: T, *, description: str = "") -> None:
        """Register an already imported object (tests, plugins)."""
        self._entries[name] = Entry(name, f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', name)}",
                                    None, description)
        self._loaded[name] = obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry]:
        for name in self.names():
            yield self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        """The class or factory registered under ``name`` (imported now)."""
        if name in self._loaded:
            return self._loaded[name]
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownEntryError(
                f"unknown {self.kind} '{name}'; known: {', '.join(self.names()) or '(none)'}"
            ) from None
        module_name, attr = entry.target.split(":", 1)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            missing = (err.name or "").split(".")[0]
            if missing and not missing.startswith("mllmshift"):
                raise MissingDependencyError(f"{self.kind} '{name}'", missing, entry.extra) from err
            raise
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
        self._loaded[name] = obj  # type: ignore[assignment]
        return obj  # type: ignore[return-value]

    def create(self, name: str, /, **kwargs: Any) -> Any:
        """Instantiate the entry ``name`` with keyword arguments."""
        factory: Callable[..., Any] = self.get(name)  # type: ignore[assignment]
        return factory(**kwargs)
