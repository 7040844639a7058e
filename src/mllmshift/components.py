"""Components: a registry name (or a ``module:Class`` plugin) plus constructor options, and the one factory.

Encoders, responders, MI estimators and divergence estimators are all named the same way in every verb
and in configs: a :class:`Component` ``(name, options)``. :func:`component_class` resolves the name
through its registry, or through :func:`mllmshift.plugins.load_plugin` for a plugin, which checks the
class against the base its role requires.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mllmshift.errors import MllmshiftError
from mllmshift.plugins import is_plugin, load_plugin, split_target

#: component kinds: registry module and attribute, base module and class, how messages call them, and
#: the plugin kind (one of :data:`mllmshift.plugins.KINDS`, entry-point group ``mllmshift.<kind>``)
KINDS: dict[str, tuple[str, str, str, str, str, str]] = {
    "encoder": ("mllmshift.encoders", "encoders", "mllmshift.encoders.base", "Encoder", "encoder", "encoders"),
    "responder": ("mllmshift.responders", "responders", "mllmshift.responders.base", "Responder", "responder",
                  "responders"),
    "mi-estimator": ("mllmshift.estimators.registries", "mi_estimators", "mllmshift.estimators.base", "MIEstimator",
                     "MI estimator", "mi_estimators"),
    "divergence": ("mllmshift.estimators.registries", "divergence_estimators", "mllmshift.estimators.base",
                   "DivergenceEstimator", "divergence estimator", "divergences"),
}


@dataclass(frozen=True)
class Component:
    """A registry name (or ``package.module:Class``) and its constructor options."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise MllmshiftError(f"a component name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": dict(self.options)}

    @classmethod
    def of(cls, value: Component | str | Mapping[str, Any]) -> Component:
        """A component from itself, a name, or a mapping ``{name, options}``."""
        if isinstance(value, Component):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping):
            unknown = set(value) - {"name", "options"}
            if unknown:
                raise MllmshiftError(f"a component takes 'name' and 'options', got {sorted(unknown)}")
            return cls(value.get("name"), value.get("options") or {})  # type: ignore[arg-type]
        raise MllmshiftError(f"a component is a name or {{name, options}}, got {type(value).__name__}")


def registry_of(kind: str) -> Any:
    """The registry of component ``kind`` (only the registry's module is imported, no component)."""
    import importlib

    if kind not in KINDS:
        raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    reg_mod, reg_attr = KINDS[kind][:2]
    return vars(importlib.import_module(reg_mod))[reg_attr]


def _kind(kind: str) -> tuple[Any, type, str]:
    import importlib

    registry = registry_of(kind)
    _, _, base_mod, base_attr, _, plugin_kind = KINDS[kind]
    base = vars(importlib.import_module(base_mod))[base_attr]
    return registry, base, plugin_kind


def check_known(kind: str, name: str) -> None:
    """Raise unless ``name`` is a registered ``kind`` (the error lists the known names) or is spelt as a plugin
    target ``package.module:Class``. A value check: nothing is imported, so whether a plugin is allowed and
    loads is :func:`check_name`'s question (asked by ``check_runnable`` before anything runs)."""
    if is_plugin(name):
        split_target(name)
    else:
        registry = registry_of(kind)
        if name not in registry:
            registry.get(name)  # UnknownEntryError: "unknown <kind> 'name'; known: ..."


def with_defaults(kind: str, comp: Component) -> Component:
    """``comp`` under its registered spelling (:meth:`Registry.canonical`), with its registry entry's default
    options under its own (:meth:`Registry.options`): a bare name resolves to the same component wherever it
    is written (flag, YAML, Python)."""
    registry = registry_of(kind)
    return Component(registry.canonical(comp.name), registry.options(comp.name, comp.options))


def check_name(kind: str, name: str, *, allowed: Collection[str] = ()) -> None:
    """Raise when ``name`` is neither a registered ``kind`` (the error lists the known names) nor a plugin that
    :func:`~mllmshift.plugins.load_plugin` allows and loads as a subclass of the kind's base (a plugin is
    refused before anything is imported when it is not allowed)."""
    registry, _, _ = _kind(kind)
    if is_plugin(name):
        component_class(kind, name, allowed=allowed)
    elif name not in registry:
        registry.get(name)  # UnknownEntryError: "unknown <kind> 'name'; known: ..."


def component_class(kind: str, name: str, *, allowed: Collection[str] = ()) -> type:
    """The class (or factory) a component name stands for: a registry entry or a checked plugin."""
    registry, base, plugin_kind = _kind(kind)
    if is_plugin(name):
        return load_plugin(name, base, plugin_kind, allowed=allowed)
    return registry.get(name)


class ComponentError(MllmshiftError):
    """A component that cannot be built with the options given."""


def build_component(kind: str, comp: Component, *, allowed: Collection[str] = (), **arguments: Any) -> Any:
    """``component_class(kind, comp.name)(**arguments, **comp.options)`` (arguments: e.g. dims and seed).

    A constructor's ``ValueError`` or ``TypeError`` (a missing or misspelt option) is reported as a
    :class:`ComponentError` naming the component and its options, not as a traceback.
    """
    cls = component_class(kind, comp.name, allowed=allowed)
    try:
        return cls(**arguments, **dict(comp.options))
    except MllmshiftError:
        raise
    except (ValueError, TypeError) as err:  # reported, not recovered from
        raise ComponentError(f"cannot build {KINDS[kind][4]} '{comp.name}' with options {dict(comp.options)}: "
                             f"{err}") from err
