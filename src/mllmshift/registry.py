"""One generic registry for encoders, estimators, responders and shifts.

Entries map a stable name (used in configs and result files) to a class or
factory given as ``"module.path:Attribute"``; the module is imported only
when the entry is used, so a missing optional dependency fails that entry
alone, with an error that says what to install.

A registry made with ``plugin_kind`` (and the ``base`` its plugins must subclass) also lists the
entry points that installed packages declare in the group ``mllmshift.<plugin_kind>``: they are
read from package metadata on first use, listed with their distribution, and loaded through
:func:`mllmshift.plugins.load_plugin` (which checks the subclass). A plugin never replaces a
built-in name.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from mllmshift.errors import MissingDependencyError, MllmshiftError, MllmshiftWarning

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
    #: the distribution that declared this entry point; None for built-in entries
    plugin: str | None = None
    #: the options the entry gets when it is named without them (a bare name); options given add to and
    #: replace these. The one place a component's default options are stated.
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class Registry(Generic[T]):
    """Name → lazily imported class or factory; with ``plugin_kind``, installed plugins too."""

    def __init__(self, kind: str, *, plugin_kind: str | None = None, base: type | None = None) -> None:
        if (plugin_kind is None) != (base is None):
            raise ValueError("plugin_kind and base go together")
        self.kind = kind
        self.plugin_kind = plugin_kind
        self.base = base
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, T] = {}
        self._discovered = plugin_kind is None

    def _discover(self) -> None:
        """Add the entry points of ``mllmshift.<plugin_kind>`` (once; metadata only, nothing imported)."""
        if self._discovered:
            return
        self._discovered = True
        from mllmshift.plugins import entry_points

        assert self.plugin_kind is not None
        for ep in entry_points(self.plugin_kind):
            dist = ep.dist.name if ep.dist is not None else "?"
            if ":" not in ep.value:
                warnings.warn(f"{self.kind} plugin '{ep.name}' of '{dist}' names a module, not a class "
                              f"({ep.value!r}); ignored", MllmshiftWarning, stacklevel=3)
            elif ep.name in self._entries and self._entries[ep.name].plugin is None:
                warnings.warn(f"{self.kind} plugin '{ep.name}' of '{dist}' has the name of a built-in "
                              f"{self.kind}; ignored", MllmshiftWarning, stacklevel=3)
            else:
                self._entries[ep.name] = Entry(ep.name, ep.value.replace(" ", ""), None,
                                               f"plugin from {dist}", plugin=dist)

    def register(self, name: str, target: str, *, extra: str | None = None, description: str = "",
                 defaults: Mapping[str, Any] | None = None) -> None:
        """Register ``target`` (``"pkg.module:Attr"``) under ``name``; ``defaults`` are the options a bare
        name gets (:meth:`options`)."""
        if ":" not in target:
            raise ValueError(f"registry target must look like 'module:attr', got {target!r}")
        if name in self._entries and self._entries[name].target != target:
            raise ValueError(f"{self.kind} '{name}' is already registered to {self._entries[name].target}")
        self._entries[name] = Entry(name, target, extra, description, defaults=MappingProxyType(dict(defaults or {})))

    def add(self, name: str, obj: T, *, description: str = "") -> None:
        """Register an already imported object (tests, plugins)."""
        self._entries[name] = Entry(name, f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', name)}",
                                    None, description)
        self._loaded[name] = obj

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry]:
        for name in self.names():
            yield self._entries[name]

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``: names are written with ``-`` or ``_`` interchangeably
        (``llava-bench`` finds ``llava_bench``), and results record the registered one."""
        self._discover()
        if name in self._entries or not isinstance(name, str):
            return name
        for alt in (name.replace("_", "-"), name.replace("-", "_")):
            if alt in self._entries:
                return alt
        return name

    def __contains__(self, name: object) -> bool:
        self._discover()
        return (self.canonical(name) if isinstance(name, str) else name) in self._entries

    def options(self, name: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The options of ``name`` (its entry's :attr:`Entry.defaults`) with ``given`` over them; a name the
        registry does not hold (a ``module:Class`` plugin) has no defaults. Nothing is imported."""
        entry = self._entries.get(self.canonical(name))
        return {**(dict(entry.defaults) if entry is not None else {}), **dict(given or {})}

    def get(self, name: str) -> T:
        """The class or factory registered under ``name`` (imported now)."""
        name = self.canonical(name)
        if name in self._loaded:
            return self._loaded[name]
        self._discover()
        try:
            entry = self._entries[name]
        except KeyError:
            raise UnknownEntryError(
                f"unknown {self.kind} '{name}'; known: {', '.join(self.names()) or '(none)'}"
            ) from None
        if entry.plugin is not None:
            from mllmshift.plugins import load_plugin

            assert self.plugin_kind is not None and self.base is not None
            plugin = load_plugin(entry.target, self.base, self.plugin_kind)
            self._loaded[name] = plugin  # type: ignore[assignment]
            return plugin  # type: ignore[return-value]
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
