"""Plugins: components given as ``"package.module:Class"`` instead of a registry name.

:func:`load_plugin` is the one place such a name is turned into a class: the module must not be part of
the standard library, and the object must be a subclass of the base class its role requires (an
encoder, a responder, an MI or divergence estimator). ``allowed`` names the modules a config or a
``--allow-plugin`` flag allows; the policy that enforces it lives here too.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Collection
from typing import TypeVar

from mllmshift.errors import MllmshiftError

T = TypeVar("T")


class PluginError(MllmshiftError):
    """A plugin name that cannot be used: malformed, not importable, or not the right kind of class."""


def is_plugin(name: str) -> bool:
    """Whether ``name`` names a plugin (``module:Attr``) rather than a registry entry."""
    return ":" in name


def load_plugin(target: str, base: type[T], kind: str, *, allowed: Collection[str] = ()) -> type[T]:
    """The class ``target`` (``"package.module:Class"``), checked to be a subclass of ``base``.

    Args:
        target: ``module:Attr`` (``Attr`` may be dotted).
        base: the class the plugin must derive from.
        kind: what the plugin is for, in messages (``"encoder"``, ``"MI estimator"``, ...).
        allowed: modules allowed as plugin sources (config ``plugins:`` / ``--allow-plugin``).
    """
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise PluginError(f"{kind} plugin must look like 'package.module:Class', got {target!r}")
    if module.split(".")[0] in sys.stdlib_module_names:
        raise PluginError(f"{kind} plugin {target!r}: a standard-library module cannot be a plugin")
    try:
        obj: object = importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise PluginError(f"{kind} plugin {target!r}: cannot import {module!r} ({err})") from None
    for part in attr.split("."):
        if part not in vars(obj):
            raise PluginError(f"{kind} plugin {target!r}: {module!r} has no {attr!r}")
        obj = vars(obj)[part]
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(f"{kind} plugin {target!r} is not a subclass of {base.__module__}.{base.__qualname__}")
    return obj
