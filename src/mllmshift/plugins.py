"""Plugins: user code named in a config or on the command line, loaded only when it is allowed.

A config may name a component by registry name (``use-multilingual``) or as a plugin target
``package.module:Class``. Importing a module runs its code, so a target is imported only when

- its top-level package declares an entry point in the group ``mllmshift.<kind>`` (an installed plugin
  package, e.g. ``[project.entry-points."mllmshift.encoders"] my-encoder = "mypkg.enc:MyEncoder"``), or
- its module, or a package above it, is in an explicit allow-list (a study config's ``plugins:`` list,
  ``--allow-plugin``), or
- it belongs to mllmshift itself.

Modules of Python's standard library (and builtins) are refused whatever the allow-list says, and the
loaded object must be a class and a subclass of the expected base (:class:`~mllmshift.encoders.Encoder`,
:class:`~mllmshift.responders.Responder`, :class:`~mllmshift.estimators.MIEstimator`, ...). So a config
naming ``subprocess:run`` gets a :class:`PluginError` and nothing is imported or called.

Installed plugin packages also appear in the registries (``mllmshift encoders list``): every entry point
of the group is listed under its name (see :class:`mllmshift.registry.Registry`).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Collection
from importlib import metadata
from typing import TypeVar

from mllmshift.errors import MllmshiftError

T = TypeVar("T")

#: plugin kinds and their entry-point groups ``mllmshift.<kind>``
KINDS: tuple[str, ...] = ("encoders", "responders", "mi_estimators", "divergences", "two_sample_tests",
                          "image_corruptions", "text_perturbations")
#: the package whose own classes are always allowed
OWN_PACKAGE = "mllmshift"

_TARGET_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PluginError(MllmshiftError):
    """A plugin target that is malformed, not allowed, not importable or not of the expected type."""


def group(kind: str) -> str:
    """The entry-point group of plugins of ``kind`` (``encoders`` → ``mllmshift.encoders``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind {kind!r}; known: {', '.join(KINDS)}")
    return f"mllmshift.{kind}"


def is_plugin(name: str) -> bool:
    """Whether ``name`` names a plugin target (``module:Attr``) rather than a registry entry."""
    return ":" in name


def split_target(target: str) -> tuple[str, str]:
    """``"pkg.module:Attr.Sub"`` → ``("pkg.module", "Attr.Sub")``, or a :class:`PluginError`."""
    if not isinstance(target, str) or not _TARGET_RE.match(target):
        raise PluginError(f"plugin target must look like 'package.module:Class', got {target!r}")
    module, attr = target.split(":", 1)
    return module, attr


def is_stdlib(module: str) -> bool:
    """Whether ``module`` belongs to Python's standard library (builtins included)."""
    top = module.split(".", 1)[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "__main__"


def entry_points(kind: str) -> list[metadata.EntryPoint]:
    """The installed entry points of the group ``mllmshift.<kind>`` (metadata only; nothing is imported)."""
    return sorted(metadata.entry_points(group=group(kind)), key=lambda ep: ep.name)


def declaring_packages(kind: str) -> set[str]:
    """Top-level packages that declare at least one entry point of ``mllmshift.<kind>``."""
    return {ep.value.split(":", 1)[0].split(".", 1)[0].strip() for ep in entry_points(kind)}


def _in_allow_list(module: str, target: str, allowed: Collection[str]) -> bool:
    parts = module.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return any(a.strip() == target or a.strip() in prefixes for a in allowed)


def _refusal(target: str, kind: str, module: str) -> str:
    return (f"{kind} plugin '{target}' is not allowed: the package '{module.split('.', 1)[0]}' declares no "
            f"'{group(kind)}' entry point and '{module}' is not in the allow-list; to load it, add "
            f"`plugins: [{module}]` to the config or pass --allow-plugin {module}")


def load_plugin(target: str, base: type[T], kind: str, *, allowed: Collection[str] = ()) -> type[T]:
    """The class named by ``target`` (``package.module:Class``), checked before and after importing.

    Args:
        target: ``package.module:Class`` (nested attributes as ``Class.Inner``).
        base: the class the plugin must subclass (Encoder, Responder, MIEstimator, ...).
        kind: one of :data:`KINDS`; plugin packages declare entry points in ``mllmshift.<kind>``.
        allowed: module or package names from an explicit allow-list (``plugins:`` / ``--allow-plugin``);
            an entry may also be a whole target.

    Raises:
        PluginError: the target is malformed, in the standard library, not allowed (nothing is
            imported then), fails to import, or is not a subclass of ``base``.
    """
    module, attr = split_target(target)
    grp = group(kind)
    if is_stdlib(module):
        raise PluginError(f"{kind} plugin '{target}' is refused: '{module}' is part of Python's standard library; "
                          f"a plugin must be a {base.__name__} subclass from a plugin package")
    top = module.split(".", 1)[0]
    if top != OWN_PACKAGE and not _in_allow_list(module, target, allowed) and top not in declaring_packages(kind):
        raise PluginError(_refusal(target, kind, module))
    try:
        obj: object = importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise PluginError(f"{kind} plugin '{target}': cannot import '{module}' ({err}); is it installed or on "
                          "the Python path?") from err
    except Exception as err:  # the plugin's own import-time code failed
        raise PluginError(f"{kind} plugin '{target}': importing '{module}' failed: {type(err).__name__}: {err}") \
            from err
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{kind} plugin '{target}': '{module}' has no attribute '{attr}'") from None
    if not isinstance(obj, type):
        raise PluginError(f"{kind} plugin '{target}' is a {type(obj).__name__}, not a class; a plugin must be a "
                          f"{base.__name__} subclass (entry-point group '{grp}')")
    if is_stdlib(obj.__module__):
        raise PluginError(f"{kind} plugin '{target}' is refused: it is '{obj.__module__}.{obj.__qualname__}' "
                          "from Python's standard library")
    if not issubclass(obj, base):
        raise PluginError(f"{kind} plugin '{target}' is not a subclass of {base.__module__}.{base.__qualname__}")
    return obj
