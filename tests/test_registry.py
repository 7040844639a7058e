from __future__ import annotations

import pytest

from mllmshift.errors import MissingDependencyError
from mllmshift.registry import Registry, UnknownEntryError


def test_lazy_import_and_create():
    reg: Registry = Registry("thing")
    reg.register("od", "collections:OrderedDict", description="ordered dict")
    assert reg.names() == ["od"] and "od" in reg
    assert reg.create("od", a=1) == {"a": 1}


def test_unknown_entry_lists_known_names():
    reg: Registry = Registry("thing")
    reg.register("one", "collections:OrderedDict")
    with pytest.raises(UnknownEntryError, match="unknown thing 'two'; known: one"):
        reg.get("two")


def test_missing_dependency_names_the_extra():
    reg: Registry = Registry("encoder")
    reg.register("ghost", "surely_not_installed_pkg.mod:Thing", extra="encoders")
    with pytest.raises(MissingDependencyError, match=r"pip install 'mllmshift\[encoders\]'"):
        reg.get("ghost")


def test_conflicting_registration_rejected():
    reg: Registry = Registry("thing")
    reg.register("a", "collections:OrderedDict")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", "collections:Counter")
    with pytest.raises(ValueError, match="module:attr"):
        reg.register("b", "collections.Counter")
