"""Whether an :class:`~mllmshift.evaluation.config.EvalConfig` can run on this machine, asked before anything
is computed.

An ``EvalConfig`` checks values only, so one read back from a results file written elsewhere is accepted.
Running it needs more, and every entry point (the verbs, the study, the monitor, the Python API and
:func:`mllmshift.evaluation.pipeline.evaluate`) asks :func:`check_runnable` first:

- a ``checkpoint`` is a file that exists;
- every ``module:Class`` component is allowed (the config's ``plugins`` or an installed entry point),
  imports, and is a subclass of its base; every registered name still resolves;
- the encoders' options bind to their classes (no weights are loaded), and the MI estimator's options to its
  class (it is built once on 2-d toy dimensions, which needs its backend, e.g. torch, to import).

A failure is a :class:`~mllmshift.evaluation.config.ConfigError` naming the field (``checkpoint``,
``estimator``, ``estimator_options``, ``text_encoder_options``, ...), which
:func:`~mllmshift.evaluation.config.renamed_fields` or :func:`mllmshift.settings.located` reports under the
flag or YAML field the user wrote.
"""

from __future__ import annotations

from pathlib import Path

from mllmshift.components import check_name, component_class
from mllmshift.errors import MllmshiftError
from mllmshift.evaluation.config import _COMPONENTS, ConfigError, EvalConfig

__all__ = ["check_runnable"]


def check_runnable(cfg: EvalConfig) -> None:
    """Raise a :class:`ConfigError` when ``cfg`` cannot run here (see the module docstring)."""
    if cfg.checkpoint is not None and not Path(cfg.checkpoint).is_file():
        raise ConfigError(f"file not found: {cfg.checkpoint}", field="checkpoint")
    for name, kind in _COMPONENTS.items():
        comp = getattr(cfg, name)
        if comp is None:
            continue
        try:
            check_name(kind, comp.name, allowed=cfg.plugins)
        except MllmshiftError as err:
            raise ConfigError(str(err), field=name) from None
    for name in ("text_encoder", "image_encoder"):
        comp = getattr(cfg, name)
        if comp is not None and comp.options:
            from mllmshift.encoders.pipeline import check_encoder_options

            try:
                check_encoder_options(comp.name, allowed=cfg.plugins, **dict(comp.options))
            except MllmshiftError as err:
                raise ConfigError(err.message, field=f"{name}_options") from None
    if cfg.estimator.options and cfg.checkpoint is None:
        cls = component_class("mi-estimator", cfg.estimator.name, allowed=cfg.plugins)
        try:
            cls(2, 2, seed=cfg.seed, **dict(cfg.estimator.options))
        except (MllmshiftError, ValueError, TypeError) as err:
            raise ConfigError(str(err), field="estimator_options") from None
