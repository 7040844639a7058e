"""A monitor config file (YAML), read strictly (:mod:`mllmshift.io.yaml_strict`) with every error located.

::

    reference: id.jsonl               # or {path, format, name, options}, as a study's `id:`
    stream: traffic/                  # a JSONL file, a drop folder or a Parquet file
    window: 1h                        # records (1000) or a duration; step: the same kind (default: the window)
    step: 15m
    terms: [visual, text, answer, output, output_shift, emi, emid, bound]
    alert_terms: [visual, text, answer, output_shift, emid]
    alpha: 0.05                       # false-alarm level per window, shared by the watched terms
    ert: 1000                         # or: expected windows between false alarms (sets the level from k)
    consecutive: 2                    # k
    thresholds: {text: 0.2}           # given thresholds instead of the reference's null
    null_draws: 200
    min_records: 10
    min_references: 20
    top_k: 5
    stream_columns: {timestamp: ts}
    webhook: https://alerts.example/hook   # or {url, timeout, retries}
    # the evaluation settings, with the keys of a study config (mllmshift.settings) and the monitor's
    # defaults (MONITOR_EVAL_DEFAULTS: 50 resamples, divergence rjsd) whether given here or as flags:
    paper: false
    seed: 0
    encoders: {text: use-multilingual, image: efficientnet-lite0, fusion: auto}
    estimator: {name: ..., options: {...}, checkpoint: ..., n_estimators: 1}
    bound: {divergence: ...}
    bootstrap: {n_resamples: 50, confidence: 0.95}
    threads: 2
    plugins: [my_package.encoders]

Relative paths are resolved against the file's folder. Command-line flags override the file's values;
:func:`located` reports a value the config refuses under the flag when a flag gave it, else under the
YAML field with its line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mllmshift.evaluation.config import ConfigError, EvalConfig, renamed_fields
from mllmshift.io.yaml_strict import YamlDocument, load_yaml
from mllmshift.monitor.config import MONITOR_EVAL_DEFAULTS, TERMS
from mllmshift.settings import YAML_FIELDS as EVAL_YAML_FIELDS
from mllmshift.settings import YAML_KEYS, file_values, resolve
from mllmshift.io.readers import SplitSource
from mllmshift.io.yaml_fields import FieldReader
from mllmshift.secrets import redact_url

#: MonitorConfig field → the YAML field that sets it (EvalConfig fields as in a study config)
YAML_FIELDS: dict[str, str] = {**EVAL_YAML_FIELDS, "window": "window", "step": "step", "terms": "terms",
                               "alert_terms": "alert_terms", "alpha": "alpha", "ert": "ert",
                               "consecutive": "consecutive",
                               "thresholds": "thresholds", "n_null": "null_draws", "min_records": "min_records",
                               "min_references": "min_references", "top_k": "top_k",
                               "stream_columns": "stream_columns"}
#: the monitor's own top-level keys
MONITOR_KEYS = frozenset({"reference", "stream", "webhook", *(v for k, v in YAML_FIELDS.items()
                                                               if k not in EVAL_YAML_FIELDS)})


@dataclass(frozen=True)
class WebhookSpec:
    """Where alerts are POSTed, with the timeout (s) and retries of each alert."""

    url: str
    timeout: float = 5.0
    retries: int = 3


@dataclass(frozen=True)
class MonitorFile:
    """A parsed monitor config file: what it gives (None / absent where it gives nothing).

    ``fields`` holds :class:`~mllmshift.monitor.config.MonitorConfig` keyword arguments (``window`` and
    ``step`` as text, for :meth:`WindowSpec.parse`); ``settings`` is the file's layer of evaluation settings
    (:func:`mllmshift.settings.file_values`), ``eval`` its EvalConfig over the monitor's defaults.
    """

    doc: YamlDocument
    eval: EvalConfig
    settings: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    reference: SplitSource | None = None
    stream: str | None = None
    webhook: WebhookSpec | None = None

    def located(self, given: Collection[str], flags: Mapping[str, str]) -> contextlib.AbstractContextManager[None]:
        return located(given, flags, self.doc)


def read_monitor_file(path: str | os.PathLike[str]) -> MonitorFile:
    """Read and check a monitor config file (see the module docstring)."""
    p = Path(path)
    doc = load_yaml(p, "monitor config")
    parser = FieldReader(p.parent, p, dict(doc.lines))
    top = parser.mapping(doc.data, "", set(MONITOR_KEYS | YAML_KEYS))
    settings = file_values(top, parser.doc, p.parent)
    ev = resolve(None, settings, MONITOR_EVAL_DEFAULTS, doc=parser.doc)
    kw: dict[str, Any] = {}
    for key in ("window", "step"):
        if top.get(key) is not None:
            value = top[key]
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise parser.error(key, f"expected a record count or a duration such as 15m, got {value!r}")
            kw[key] = str(value)
    for key in ("terms", "alert_terms"):
        if top.get(key) is not None:
            names = top[key]
            if not isinstance(names, list) or not all(isinstance(t, str) for t in names) or not names:
                raise parser.error(key, f"expected a list of terms ({', '.join(TERMS)}), got {names!r}")
            kw[key] = tuple(names)
    if top.get("ert") is not None:
        kw["ert"] = parser.number(top["ert"], "ert", float, low=1.0, open_low=True)
    for key, attr, kind, low, high in (("alpha", "alpha", float, 0.0, 1.0),
                                       ("consecutive", "consecutive", int, 1, None),
                                       ("null_draws", "n_null", int, 1, None),
                                       ("min_records", "min_records", int, 2, None),
                                       ("min_references", "min_references", int, 2, None),
                                       ("top_k", "top_k", int, 0, None)):
        if top.get(key) is not None:
            kw[attr] = parser.number(top[key], key, kind, low=low, high=high, open_low=kind is float,
                                     open_high=high is not None)
    if top.get("thresholds") is not None:
        given = parser.mapping(top["thresholds"], "thresholds", set(top["thresholds"] or {}))
        kw["thresholds"] = {t: parser.number(v, f"thresholds.{t}", float) for t, v in given.items()}
    if top.get("stream_columns") is not None:
        cols = parser.mapping(top["stream_columns"], "stream_columns", set(top["stream_columns"] or {}))
        bad = [k for k, v in cols.items() if not isinstance(v, str) or not v]
        if bad:
            raise parser.error(f"stream_columns.{bad[0]}", f"expected a column name, got {cols[bad[0]]!r}")
        kw["stream_columns"] = dict(cols)
    reference = None if top.get("reference") is None else parser.split(top["reference"], "reference")
    stream = None if top.get("stream") is None else parser.path(top["stream"], "stream")
    return MonitorFile(doc, ev, settings, kw, reference, stream, _webhook(parser, top.get("webhook")))


def _webhook(parser: FieldReader, value: Any) -> WebhookSpec | None:
    if value is None:
        return None
    spec = {"url": value} if isinstance(value, str) else parser.mapping(value, "webhook", {"url", "timeout", "retries"})
    url = spec.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise parser.error("webhook.url" if "url" in spec and not isinstance(value, str) else "webhook",
                           f"expected an http(s) URL, got {url if not isinstance(url, str) else redact_url(url)!r}")
    timeout = parser.number(spec.get("timeout", 5.0), "webhook.timeout", float, low=0, open_low=True)
    retries = parser.number(spec.get("retries", 3), "webhook.retries", int, low=0)
    return WebhookSpec(url, timeout, retries)


@contextlib.contextmanager
def located(given: Collection[str], flags: Mapping[str, str], doc: YamlDocument | None = None) -> Iterator[None]:
    """Report a :class:`ConfigError` of the block under the flag that set its field (``given``: the fields the
    command line set; ``flags``: field → flag), else under the YAML field of ``doc`` with its line."""
    try:
        yield
    except ConfigError as err:
        if doc is not None and err.field not in given:
            with renamed_fields(YAML_FIELDS, path=doc.path, lines=doc.lines):
                raise
        with renamed_fields(flags):
            raise
