"""EvalConfig: one set of field names, checked when the config is built, renamed to the flag or YAML field."""

from __future__ import annotations

import math

import pytest

from mllmshift.components import Component
from mllmshift.errors import DataError
from mllmshift.estimators.registries import mi_estimators
from mllmshift.evaluation.config import ConfigError, EvalConfig, renamed_fields
from mllmshift.evaluation.runnable import check_runnable

#: what the registry entry of the default estimator gives a bare name (the one place it is stated)
DEFAULT_MI_OPTIONS = {"hidden_size": 250, "max_epochs": 50, "patience": 5}
from mllmshift.vocab import (
    DEFAULT_DIVERGENCE,
    DEFAULT_MI_ESTIMATOR,
    DEFAULT_N_ESTIMATORS,
    PAPER_MI_OPTIONS,
)


def test_defaults_and_the_papers_choices(tmp_path):
    # the defaults chosen by the amended decision rule (docs/estimators.md): an ensemble of 3 small CLUBs and the
    # shuffle-corrected RJSD; the paper's pair is one CLUB (hidden 500, 200 epochs) and linear RJSD
    c = EvalConfig()
    assert (c.estimator.name, c.divergence.name, c.n_estimators) == (DEFAULT_MI_ESTIMATOR, DEFAULT_DIVERGENCE,
                                                                     DEFAULT_N_ESTIMATORS)
    assert (DEFAULT_MI_ESTIMATOR, DEFAULT_DIVERGENCE, DEFAULT_N_ESTIMATORS) == ("club", "rjsd-debiased", 3)
    assert c.estimator.options == DEFAULT_MI_OPTIONS == mi_estimators.options("club")
    p = EvalConfig.paper(seed=3)
    assert p.estimator == Component("club", PAPER_MI_OPTIONS) and p.divergence.name == "rjsd" and p.seed == 3
    assert p.n_estimators == 1 and EvalConfig.paper(n_estimators=4).n_estimators == 4
    # a name gets its registry entry's options, whichever way it is written; explicit options add to and win
    # over them; an entry without defaults gets its class defaults
    for written in ("club", Component("club"), {"name": "club"}, {"name": "club", "options": {}}):
        assert EvalConfig(estimator=written).estimator.options == DEFAULT_MI_OPTIONS  # type: ignore[arg-type]
    assert EvalConfig(estimator="infonce").estimator.options == {}  # type: ignore[arg-type]
    assert EvalConfig(estimator=Component("club", {"max_epochs": 9})).estimator.options == {
        "hidden_size": 250, "max_epochs": 9, "patience": 5}
    assert p.estimator.options == {"hidden_size": 500, "max_epochs": 200, "patience": 10}  # the registry's not in
    # a loaded checkpoint is one estimator, so the default ensemble size does not apply to it
    ckpt = tmp_path / "e.pt"
    ckpt.write_bytes(b"x")
    assert EvalConfig(checkpoint=str(ckpt)).n_estimators == 1
    with pytest.raises(ConfigError, match="n_estimators must be 1"):
        EvalConfig(checkpoint=str(ckpt), n_estimators=3)


def test_components_from_names_and_mappings_and_dict_round_trip():
    c = EvalConfig(text_encoder="hashing-bow", estimator={"name": "infonce", "options": {"hidden_size": 8}},
                   image_encoder=None, plugins=["pkg"])  # type: ignore[arg-type]
    assert c.text_encoder == Component("hashing-bow") and c.estimator.options == {"hidden_size": 8}
    assert c.plugins == ("pkg",)
    d = c.to_dict()
    assert d["estimator"] == {"name": "infonce", "options": {"hidden_size": 8}} and d["plugins"] == ["pkg"]
    assert EvalConfig.from_dict(d) == c
    assert c.fingerprint() == EvalConfig.from_dict(d).with_(threads=4).fingerprint()  # threads do not matter
    assert c.fingerprint() != c.with_(seed=1).fingerprint()
    with pytest.raises(TypeError):
        c.estimator.options["hidden_size"] = 9  # type: ignore[index]  # frozen


@pytest.mark.parametrize("field, value, message", [
    ("confidence", 1.0, "must be in (0, 1)"),
    ("confidence", math.nan, "finite number"),
    ("n_resamples", -1, "must be >= 0"),
    ("n_resamples", 2.5, "an integer"),
    ("n_resamples", True, "an integer"),
    ("seed", -3, "must be >= 0"),
    ("n_estimators", 0, "must be >= 1"),
    ("threads", 0, "must be >= 1"),
    ("fusion", "sum", "auto, mean, concat, text"),
    ("bound_form", "loose", "scale-adjusted, theorem"),
    ("entropy_scale", 2.0, "form 'theorem'"),
    ("estimator", "clubb", "unknown MI estimator 'clubb'"),
    ("divergence", "jsd", "unknown divergence estimator 'jsd'"),
    ("text_encoder", "nope", "unknown encoder 'nope'"),
    ("checkpoint", 3, "a file path"),
    ("plugins", "pkg", "list of module names"),
])
def test_bad_values_raise_a_config_error_naming_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        EvalConfig(**{field: value})
    assert err.value.field == field


def test_the_theorem_form_needs_a_positive_finite_scale():
    assert EvalConfig(bound_form="theorem", entropy_scale=2).entropy_scale == 2.0
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ConfigError) as err:
            EvalConfig(bound_form="theorem", entropy_scale=bad)
        assert err.value.field == "entropy_scale"
    with pytest.raises(ConfigError, match="needs entropy_scale"):
        EvalConfig(bound_form="theorem")


def test_a_checkpoint_is_one_estimator(tmp_path):
    ck = tmp_path / "e.pt"
    ck.write_bytes(b"x")
    assert EvalConfig(checkpoint=ck).checkpoint == str(ck)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_estimators must be 1"):
        EvalConfig(checkpoint=str(ck), n_estimators=2)


def test_renamed_fields_reports_the_flag_or_yaml_field_the_user_wrote(tmp_path):
    with pytest.raises(DataError) as err:
        with renamed_fields({"n_resamples": "--bootstrap"}):
            EvalConfig(n_resamples=-2)
    assert str(err.value) == "field '--bootstrap': must be >= 0, got -2"
    cfg = tmp_path / "study.yaml"
    with pytest.raises(DataError) as err:
        with renamed_fields({"confidence": "bootstrap.confidence"}, path=cfg, lines={"bootstrap.confidence": 7}):
            EvalConfig(confidence=2.0)
    assert (err.value.path, err.value.line, err.value.field) == (str(cfg), 7, "bootstrap.confidence")


@pytest.mark.parametrize("changes, field, message", [
    ({"checkpoint": "/no/such.pt"}, "checkpoint", "file not found"),
    ({"text_encoder": "nosuchmod_xyz:Enc"}, "text_encoder", "not allowed"),
    ({"estimator": Component("club", {"hidden_size": 0})}, "estimator_options", "hidden_size"),
    ({"estimator": Component("club", {"hiden_size": 8})}, "estimator_options", "hiden_size"),
])
def test_what_a_config_needs_to_run_here_is_checked_apart(changes, field, message):
    # the config itself holds these values (a results file written elsewhere must read back); running it is
    # refused, naming the field
    cfg = EvalConfig(**changes)
    with pytest.raises(ConfigError, match=message) as err:
        check_runnable(cfg)
    assert err.value.field == field
