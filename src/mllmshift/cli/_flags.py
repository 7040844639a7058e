"""The command line's side of :mod:`mllmshift.settings`: the argparse flags of the settings table, and the layer
the flags given make (:func:`flag_values`, for :func:`mllmshift.settings.resolve`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.errors import DataError
from mllmshift.settings import ENCODER_KEYS, SETTINGS, Setting, resolve

__all__ = ["add_eval_args", "flag_values", "deprecated_alias", "parse_key_values"]

#: verbs whose numbers have no bound (``--entropy-scale`` does not apply)
_NO_BOUND = frozenset({"emi", "monitor", "fit"})


def deprecated_alias(action: type[argparse.Action], old: Mapping[str, str]) -> type[argparse.Action]:
    """``action`` that warns on stderr (``mllmshift VERB: warning: --old is deprecated; use --new``) when the
    flag was spelt as one of ``old`` (old spelling → new). Printed, not raised as a Python warning: it comes
    while the command line is parsed, before the verb's warning printer is in place."""

    class Deprecated(action):  # type: ignore[misc,valid-type]
        def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
            if option_string in old:
                print(f"{parser.prog}: warning: {option_string} is deprecated; use {old[option_string]}",
                      file=sys.stderr)
            super().__call__(parser, namespace, values, option_string)

    return Deprecated


def _add(g: Any, s: Setting, default_note: str) -> None:
    assert s.flag is not None
    names = [s.flag, *s.aliases]
    help_ = f"{s.help} (default: {default_note})" if default_note else s.help
    kw: dict[str, Any] = {"dest": s.key, "help": help_}
    if s.kind == "switch":
        kw.update(action="store_true", default=None)
    elif s.kind in ("options", "modules"):
        kw.update(action="append", default=None, metavar=s.metavar)
    else:
        kw.update(default=None, metavar=s.metavar, type={"int": int, "option": int, "float": float,
                                                         "path": Path}.get(s.kind, str))
        if s.choices:
            kw["choices"] = list(s.choices)
    if s.aliases:
        base = {"store_true": argparse._StoreTrueAction, "append": argparse._AppendAction}.get(
            kw.get("action", ""), argparse._StoreAction)
        kw["action"] = deprecated_alias(base, {a: s.flag for a in s.aliases})
    g.add_argument(*names, **kw)


def add_eval_args(p: argparse.ArgumentParser, verb: str, *, defaults: Mapping[str, Any] | None = None,
                  encoders_only: bool = False, note: str = "") -> None:
    """Add the settings' flags to verb ``verb``'s parser, in argument groups (encoders, estimation, scale).

    ``defaults``: the verb's defaults (shown in the help); ``encoders_only``: only the encoder, plugin,
    device and thread flags (``embed``); ``note``: what the defaults are when a config file is read too."""
    shown = _defaults_for_help(defaults or {})
    groups: dict[str, Any] = {}
    for s in SETTINGS:
        if s.flag is None or (encoders_only and s.key not in ENCODER_KEYS):
            continue
        if s.key == "entropy_scale" and verb in _NO_BOUND:
            continue
        if s.group not in groups:
            title = {"encoders": "encoders", "estimation": "estimation", "scale": "scale (docs/scale.md)"}[s.group]
            groups[s.group] = p.add_argument_group(title + (f" ({note})" if note and s.group == "encoders" else ""))
        _add(groups[s.group], s, shown.get(s.key, ""))


def _defaults_for_help(defaults: Mapping[str, Any]) -> dict[str, str]:
    cfg = resolve({}, None, defaults)
    out = {"text_encoder": cfg.text_encoder.name, "image_encoder": cfg.image_encoder.name if cfg.image_encoder
           else "none", "fusion": cfg.fusion, "estimator": f"{cfg.estimator.name} {_opts(cfg.estimator)}".strip(),
           "n_estimators": str(cfg.n_estimators), "divergence": cfg.divergence.name, "seed": str(cfg.seed),
           "n_resamples": str(cfg.n_resamples), "confidence": str(cfg.confidence),
           "bootstrap_scheme": cfg.bootstrap_scheme, "device": cfg.device}
    return out


def _opts(comp: Component) -> str:
    return f"with {', '.join(f'{k}={v}' for k, v in comp.options.items())}" if comp.options else ""


def parse_key_values(pairs: Sequence[str], flag: str, *, underscores: bool = False) -> dict[str, Any]:
    """``["k=v", ...]`` from a repeatable ``flag`` → ``{k: v}``, each value parsed as JSON where it is JSON
    (numbers such as ``1e-3``, ``true``, ``null``, lists) and kept as text otherwise.

    ``underscores=True`` turns dashes in keys into underscores (``max-tokens`` → ``max_tokens``).
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DataError(f"{flag} must look like KEY=VALUE, got {pair!r}", field=flag)
        if underscores:
            key = key.replace("-", "_")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The layer the command line gives: the settings whose flags were given (and only those)."""
    out: dict[str, Any] = {}
    given = vars(args)
    for s in SETTINGS:
        value = given.get(s.key)
        if value is None or s.flag is None:
            continue
        if s.kind == "options":
            out[s.key] = parse_key_values(value, s.flag)
        elif s.kind == "option":
            out.setdefault("estimator_options", {})[s.option] = value
        elif s.kind == "modules":
            out[s.key] = tuple(value)
        elif s.kind == "path":
            out[s.key] = str(value)
        elif s.key == "image_encoder" and value == "none":
            out[s.key] = None
        else:
            out[s.key] = value
    return out
