"""One factory for every component kind; plugins (module:Class) only through mllmshift.plugins.load_plugin."""

from __future__ import annotations

import pytest

from mllmshift.components import Component, ComponentError, build_component, component_class
from mllmshift.errors import MllmshiftError
from mllmshift.estimators.mi.ksg import KSG
from mllmshift.plugins import PluginError, load_plugin
from mllmshift.responders.base import Responder


class EchoResponder(Responder):
    """A plugin responder for the tests: answers with the question."""

    name = "echo"

    def respond(self, samples):
        return [s.question for s in samples]


ALLOWED = ("tests.test_components",)  # a plugin outside mllmshift loads only from the allow-list


def test_registry_names_and_plugins_resolve_to_classes():
    assert component_class("mi-estimator", "ksg") is KSG
    assert component_class("responder", "tests.test_components:EchoResponder",
                           allowed=ALLOWED).__name__ == "EchoResponder"
    est = build_component("mi-estimator", Component("ksg", {"k": 4}), x_dim=2, y_dim=2, seed=1)
    assert est.config()["k"] == 4 and est.config()["seed"] == 1


def test_a_plugin_must_subclass_the_base_of_its_role():
    with pytest.raises(PluginError, match="not a subclass of mllmshift.estimators.base.MIEstimator"):
        component_class("mi-estimator", "tests.test_components:EchoResponder", allowed=ALLOWED)
    with pytest.raises(PluginError, match="standard library"):
        load_plugin("os:PathLike", object, "encoders")
    with pytest.raises(PluginError, match="cannot import"):
        component_class("encoder", "no_such_package_xyz.mod:Enc", allowed=("no_such_package_xyz",))
    with pytest.raises(PluginError, match="has no attribute 'Missing'"):
        component_class("encoder", "tests.test_components:Missing", allowed=ALLOWED)
    with pytest.raises(PluginError, match="must look like"):
        load_plugin("tests.test_components:", object, "encoders")


def test_each_component_kind_loads_plugins_of_its_entry_point_group():
    from mllmshift import plugins
    from mllmshift.components import KINDS

    assert {k[5] for k in KINDS.values()} <= set(plugins.KINDS)
    with pytest.raises(PluginError, match="encoders plugin 'tests.test_components:EchoResponder' is not allowed.*"
                                          "'mllmshift.encoders' entry point"):
        component_class("encoder", "tests.test_components:EchoResponder")
    with pytest.raises(PluginError, match="'mllmshift.responders' entry point"):
        component_class("responder", "tests.test_components:EchoResponder")


def test_construction_errors_name_the_component_and_its_options():
    with pytest.raises(ComponentError, match=r"cannot build encoder 'hashing-bow' with options \{'dims': 3\}"):
        build_component("encoder", Component("hashing-bow", {"dims": 3}))
    with pytest.raises(MllmshiftError, match="unknown responder 'nope'"):
        component_class("responder", "nope")
    with pytest.raises(MllmshiftError, match="takes 'name' and 'options'"):
        Component.of({"name": "x", "option": {}})
