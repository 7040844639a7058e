"""The settings of an evaluation: one table, from which every verb's flags and every config file's keys come,
and the one function that merges them.

Each :class:`Setting` names the :class:`~mllmshift.evaluation.config.EvalConfig` field it sets, its place in
a study or monitor YAML file (``bootstrap.n_resamples``), its flag (``--bootstrap``) and its help. From
:data:`SETTINGS`:

- :func:`mllmshift.cli._flags.add_eval_args` adds the same argparse groups to ``emi``, ``emid``, ``study`` and
  ``monitor`` (and the encoder part to ``embed``): every flag defaults to None, so what the user gave is known;
- :func:`mllmshift.cli._flags.flag_values` and :func:`file_values` turn the command line and a YAML mapping into
  *layers*: plain dicts of the settings given (and only those);
- :func:`resolve` merges the layers **flags > config file > verb defaults > EvalConfig's defaults** (the
  shape of lm-eval-harness's ``EvaluatorConfig.from_cli``) into one ``EvalConfig``, and reports a value it
  refuses under the flag, or the YAML field and line, that gave it.

How layers merge: a later layer replaces a field an earlier one set. ``paper: true`` (``--paper``) first
puts the paper's estimators in place (:data:`~mllmshift.evaluation.config.PAPER_FIELDS`: one CLUB, linear RJSD),
then the layer's other settings apply. A component (encoder, MI estimator, divergence) renamed by a layer
starts from the options that layer gives; a layer that keeps its name (or gives only options) adds its
options to those it had. A component's default options come from its registry entry, filled in by
``EvalConfig`` itself, so a bare name means the same thing from every route. ``entropy_scale`` given
without ``bound_form`` selects the theorem's form.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.evaluation.config import PAPER_FIELDS, ConfigError, EvalConfig, renamed_fields
from mllmshift.vocab import (
    BOOTSTRAP_SCHEMES,
    BOUND_FORMS,
    DEVICES,
    FUSIONS,
)

__all__ = ["Setting", "SETTINGS", "FLAGS", "YAML_FIELDS", "YAML_KEYS", "ENCODER_KEYS", "file_values", "resolve",
           "located"]


@dataclass(frozen=True)
class Setting:
    """One setting: the key it has in a layer (an EvalConfig field, ``<component>_options``, ``paper``, or an
    estimator option shortcut), where YAML puts it, its flag and what it takes.

    ``kind``: ``name`` (a registry name or ``module:Class``; YAML also ``{name, options}``), ``options``
    (KEY=VALUE, repeatable; YAML a mapping), ``int``, ``float``, ``text``, ``path``, ``modules`` (a list),
    ``switch`` (a flag without a value), ``option`` (a shortcut for one estimator option, ``key``).
    """

    key: str
    yaml: str | None
    flag: str | None
    kind: str
    help: str
    group: str = "estimation"
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    aliases: tuple[str, ...] = ()  # old spellings of the flag: accepted with a deprecation warning
    option: str | None = None  # kind "option": the estimator option it sets

    @property
    def field(self) -> str:
        """The EvalConfig field (or pseudo-field) a refused value is reported under."""
        return "estimator_options" if self.kind == "option" else self.key


#: every setting of an evaluation, in the order ``--help`` lists them
SETTINGS: tuple[Setting, ...] = (
    Setting("paper", "paper", "--paper", "switch", "the paper's estimators: one CLUB (hidden size 500, at most "
            "200 epochs) and linear RJSD; other settings given apply over them"),
    Setting("text_encoder", "encoders.text", "--text-encoder", "name",
            "registered text encoder or package.module:Class", group="encoders", metavar="NAME"),
    Setting("text_encoder_options", "encoders.text.options", "--text-encoder-option", "options",
            "text encoder option, repeatable; e.g. model_name_or_path=/models/xlm-roberta-base for "
            "hf-embedding-layer", group="encoders", metavar="KEY=VALUE"),
    Setting("image_encoder", "encoders.image", "--image-encoder", "name",
            "registered image encoder (or 'none'), used when samples have image paths", group="encoders",
            metavar="NAME"),
    Setting("image_encoder_options", "encoders.image.options", "--image-encoder-option", "options",
            "image encoder option, repeatable; e.g. model_name_or_path=/models/clip-vit-base-patch32 for "
            "clip-vision", group="encoders", metavar="KEY=VALUE"),
    Setting("fusion", "encoders.fusion", "--fusion", "text", "how image and question embeddings make X (auto: "
            "mean for equal dims, else concat)", group="encoders", choices=FUSIONS),
    Setting("plugins", "plugins", "--allow-plugin", "modules",
            "allow package.module:Class components from MODULE (repeatable)", group="encoders", metavar="MODULE"),
    Setting("estimator", "estimator.name", "--mi-estimator", "name",
            "registered MI estimator fitted on the pooled pairs (club is the paper's; see `mllmshift estimators "
            "list`); a bare name gets its registry entry's options", metavar="NAME"),
    Setting("estimator_options", "estimator.options", "--estimator-option", "options",
            "constructor option of the MI estimator, e.g. lr=1e-3 (repeatable; VALUE parsed as JSON when it can "
            "be); adds to the options it has", metavar="KEY=VALUE"),
    Setting("hidden_size", None, "--hidden-size", "option", "shortcut for --estimator-option hidden_size=N",
            option="hidden_size", metavar="N"),
    Setting("max_epochs", None, "--max-epochs", "option", "shortcut for --estimator-option max_epochs=N (CLUB)",
            option="max_epochs", metavar="N"),
    Setting("checkpoint", "estimator.checkpoint", "--estimator-file", "path",
            "load a saved MI estimator (any kind, or the authors' CLUB state dict) instead of fitting",
            metavar="PATH", aliases=("--estimator",)),
    Setting("n_estimators", "estimator.n_estimators", "--n-estimators", "int",
            "fit K estimators with derived seeds: values are their mean, the bootstrap uses member b mod K, and "
            "EMIDs whose sign the members disagree on are flagged (1 with --paper or --estimator-file)",
            metavar="K"),
    Setting("folds", "estimator.folds", "--folds", "int",
            "cross-fit every fitted estimator over F folds of the sample ids, so each pair is scored by a fit that "
            "never saw its item (0: fitted and scored on the same pairs, the authors' in-sample scoring)",
            metavar="F"),
    Setting("divergence", "bound.divergence", "--divergence", "name",
            "JSD estimator of the bound's four terms (rjsd is the paper's)", metavar="NAME"),
    Setting("bound_form", "bound.form", None, "text", "scale-adjusted or theorem", choices=BOUND_FORMS),
    Setting("entropy_scale", "bound.entropy_scale", "--entropy-scale", "float",
            "Ĥ of the theorem's bound Ĥ(√·+√·)+4(·^¼+·^¼); selects the theorem's form (default: the "
            "scale-adjusted form)", metavar="H"),
    Setting("seed", "seed", "--seed", "int", "seed of estimator training, bootstrap and seeded divergences"),
    Setting("n_resamples", "bootstrap.n_resamples", "--bootstrap", "int",
            "bootstrap resamples for confidence intervals, 0 for none", metavar="B"),
    Setting("confidence", "bootstrap.confidence", "--confidence", "float", "confidence of the intervals"),
    Setting("bootstrap_scheme", "bootstrap.scheme", "--bootstrap-scheme", "text",
            "multinomial (classic) or Poisson bootstrap; auto: multinomial while B × n ≤ 10^7, the chunk-wise "
            "Poisson bootstrap beyond (docs/scale.md)", choices=BOOTSTRAP_SCHEMES),
    Setting("device", "device", "--device", "text", "where encoders, estimator training and scoring run (auto = "
            f"cuda when available; or cuda:N); recorded in the results; one of {', '.join(DEVICES)}",
            group="scale"),
    Setting("threads", "threads", "--threads", "int", "CPU threads (default: $MLLMSHIFT_THREADS, else chosen from "
            "the CPUs this process may use and the load beside it); does not change the numbers", metavar="N",
            group="scale"),
)

_BY_KEY = {s.key: s for s in SETTINGS}
#: setting key (EvalConfig field) → the flag that sets it
FLAGS: dict[str, str] = {s.field if s.kind != "option" else s.key: s.flag for s in SETTINGS if s.flag}
FLAGS["estimator_options"] = "--estimator-option"
FLAGS["bound_form"] = "--entropy-scale"
#: setting key (EvalConfig field) → the YAML field that sets it
YAML_FIELDS: dict[str, str] = {s.key: s.yaml for s in SETTINGS if s.yaml}
#: the top-level YAML keys the settings use (``encoders``, ``estimator``, ``bound``, ``bootstrap``, ``seed``, ...)
YAML_KEYS: frozenset[str] = frozenset(s.yaml.split(".", 1)[0] for s in SETTINGS if s.yaml)
#: the settings of embedding alone (``embed``)
ENCODER_KEYS = ("text_encoder", "text_encoder_options", "image_encoder", "image_encoder_options", "fusion",
                 "plugins", "device", "threads")


# ---------------------------------------------------------------------------------------------- YAML
def file_values(top: Mapping[str, Any], doc: Any, base_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The layer a config file's top-level mapping gives (the keys of :data:`YAML_KEYS`; others are the
    caller's). Shapes are checked here, with ``doc``'s lines (a :class:`~mllmshift.io.yaml_strict.YamlDocument`);
    values are checked by ``EvalConfig`` through :func:`resolve`. Paths are resolved against ``base_dir``."""
    out: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key in YAML_KEYS:
        if key not in top or top[key] is None:
            continue
        subs = {s.yaml.split(".")[1] for s in SETTINGS if s.yaml and s.yaml.startswith(key + ".")}
        value = top[key]
        if not subs:
            sections[""] = {**sections.get("", {}), key: value}
            continue
        if isinstance(value, str) and "name" in subs:  # ``estimator: club``
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise doc.error(f"expected a mapping of {', '.join(sorted(subs))}, got {value!r}", key)
        unknown = set(value) - subs
        if unknown:
            raise doc.error(f"unknown key; allowed: {', '.join(sorted(subs))}", f"{key}.{sorted(unknown)[0]}")
        sections[key] = dict(value)
    for s in SETTINGS:
        if s.yaml is None or s.yaml.endswith(".options") and s.yaml.count(".") == 2:
            continue
        head, _, tail = s.yaml.partition(".")
        section = sections.get(head if tail else "", {})
        name = tail or head
        if name not in section:
            continue
        if section[name] is None:
            if s.key == "image_encoder":  # ``image: null``: no image encoder
                out[s.key] = None
            continue
        value = section[name]
        if s.kind == "name":
            _component(out, s, value, doc)
        elif s.kind == "options":
            if not isinstance(value, Mapping):
                raise doc.error(f"expected a mapping of options, got {value!r}", s.yaml)
            out[s.key] = dict(value)
        elif s.kind == "path":
            if not isinstance(value, (str, os.PathLike)) or not str(value):
                raise doc.error(f"expected a path, got {value!r}", s.yaml)
            p = Path(os.path.expanduser(str(value)))
            out[s.key] = str(p if p.is_absolute() else (Path(base_dir) / p).resolve())
        elif s.kind == "modules":
            if not isinstance(value, list):
                raise doc.error(f"expected a list of module names, got {value!r}", s.yaml)
            out[s.key] = tuple(value)
        elif s.kind == "switch":
            if not isinstance(value, bool):
                raise doc.error(f"expected true or false, got {value!r}", s.yaml)
            out[s.key] = value
        else:
            out[s.key] = value
    return out


def _component(out: dict[str, Any], s: Setting, value: Any, doc: Any) -> None:
    """A name setting from YAML: ``NAME`` or ``{name, options}`` (``none`` / null: no image encoder)."""
    if s.key == "image_encoder" and value == "none":
        out[s.key] = None
        return
    if isinstance(value, Mapping):
        unknown = set(value) - {"name", "options"}
        if unknown:
            raise doc.error("unknown key; allowed: name, options", f"{s.yaml}.{sorted(unknown)[0]}")
        if not isinstance(value.get("name"), str) or not value.get("name"):
            raise doc.error("expected a registry name or 'module:Attr'", f"{s.yaml}.name")
        options = value.get("options") or {}
        if not isinstance(options, Mapping):
            raise doc.error(f"expected a mapping of options, got {options!r}", f"{s.yaml}.options")
        out[s.key] = value["name"]
        out[f"{s.key}_options"] = dict(options)
        return
    if not isinstance(value, str) or not value:
        raise doc.error("expected a registry name or 'module:Attr'", s.yaml)
    out[s.key] = value


# ---------------------------------------------------------------------------------------------- resolving
_PAPER = PAPER_FIELDS
_COMPONENT_FIELDS = ("text_encoder", "image_encoder", "estimator", "divergence")


def _apply(kw: dict[str, Any], layer: Mapping[str, Any], origin: dict[str, str], where: str) -> None:
    if layer.get("paper"):
        kw.update(_PAPER)
        origin.update({k: where for k in (*_PAPER, "estimator_options")})
    for key, value in layer.items():
        if key == "paper" or key.endswith("_options"):
            continue
        if key in _COMPONENT_FIELDS:
            current = kw.get(key)
            comp = None if value is None else Component.of(value) if not isinstance(value, str) else Component(value)
            if comp is not None and current is not None and comp.name == current.name:
                comp = Component(comp.name, {**current.options, **comp.options})
            kw[key] = comp
        else:
            kw[key] = value
        origin[key] = where
    for comp_field in _COMPONENT_FIELDS:
        options = layer.get(f"{comp_field}_options")
        if not options:
            continue
        current = kw.get(comp_field)
        if current is None:
            origin[f"{comp_field}_options"] = where  # located at the flag or YAML field that gave them
            raise ConfigError(f"options for no {comp_field.replace('_', ' ')} (it is none): name one too",
                              field=f"{comp_field}_options")
        kw[comp_field] = Component(current.name, {**current.options, **options})
        origin[f"{comp_field}_options"] = where
    if "entropy_scale" in layer and "bound_form" not in layer and layer["entropy_scale"] is not None:
        kw["bound_form"] = "theorem"
        origin["bound_form"] = where


def resolve(flags: Mapping[str, Any] | None = None, file: Mapping[str, Any] | None = None,
            verb_defaults: Mapping[str, Any] | None = None, *, base: EvalConfig | None = None,
            doc: Any = None, runnable: bool = False, flags_from: str = "flag") -> EvalConfig:
    """The one EvalConfig of ``flags`` over ``file`` over ``verb_defaults`` over ``base`` (default
    ``EvalConfig()``): each a layer as :func:`flag_values` / :func:`file_values` make (Python values work
    too: components as names, :class:`Component` or ``{name, options}``). A refused value is reported under
    the flag that gave it, else under the YAML field of ``doc`` (with its line), else under the field.
    ``runnable``: also :func:`~mllmshift.evaluation.runnable.check_runnable` (an entry point about to compute),
    its errors located the same way. ``flags_from="python"``: the top layer is a Python call's keywords, whose
    errors keep the field name (a :class:`ConfigError` as raised)."""
    start = base if base is not None else EvalConfig()
    kw: dict[str, Any] = {f.name: getattr(start, f.name) for f in fields(EvalConfig)}
    if base is None:
        kw["n_estimators"] = None  # let a checkpoint make it 1
    origin: dict[str, str] = {}
    with located(origin, doc):
        for layer, where in ((verb_defaults, "default"), (file, "file"), (flags, flags_from)):
            if layer:
                _apply(kw, layer, origin, where)
        if kw.get("checkpoint") is not None and origin.get("n_estimators") in (None, "default") and \
                origin.get("checkpoint") is not None:
            kw["n_estimators"] = None
        cfg = EvalConfig(**kw)
        if runnable:
            from mllmshift.evaluation.runnable import check_runnable

            check_runnable(cfg)
        return cfg


@contextlib.contextmanager
def located(origin: Mapping[str, str], doc: Any = None) -> Iterator[None]:
    """Report a :class:`ConfigError` of the block under the flag that set its field (``origin``: field →
    ``flag`` / ``file`` / ``default``), else under the YAML field of ``doc`` with its line, else as is."""
    try:
        yield
    except ConfigError as err:
        where = origin.get(err.field or "")
        if where == "python":
            raise
        if where == "flag" or (where is None and doc is None):
            with renamed_fields(FLAGS if where == "flag" else {}):
                raise
        with renamed_fields(YAML_FIELDS | {"bound_form": "bound.form", "estimator_options": "estimator.options"},
                            path=None if doc is None else doc.path, lines=None if doc is None else doc.lines):
            raise
