"""The one evaluation config: everything that, with the data, determines the numbers.

Field names are the same everywhere: :mod:`mllmshift.settings` says which flag and which YAML path set each
field, and ``results.json`` records them. An ``EvalConfig`` holds values and checks values only (types,
ranges, registered names): building one reads no file, imports no plugin and needs no torch, so a results
file reads back on any machine. Whether a config can run *here* (its checkpoint exists, its plugins are
allowed and load, its options bind to the classes) is :func:`mllmshift.evaluation.runnable.check_runnable`,
asked at every entry point before anything is computed. A bad value raises a :class:`ConfigError` naming the
field, which :func:`renamed_fields` turns into the flag or YAML field (with its line) the user wrote.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mllmshift.components import Component, check_known, with_defaults
from mllmshift.errors import DataError, MllmshiftError
from mllmshift.vocab import DEFAULT_FOLDS
from mllmshift.provenance import stable_hash
from mllmshift.vocab import (
    BOOTSTRAP_SCHEMES,
    BOUND_FORMS,
    DEVICES,
    DEFAULT_DIVERGENCE,
    DEFAULT_FUSION,
    DEFAULT_IMAGE_ENCODER,
    DEFAULT_MI_ESTIMATOR,
    DEFAULT_N_ESTIMATORS,
    DEFAULT_TEXT_ENCODER,
    FUSIONS,
    PAPER_DIVERGENCE,
    PAPER_MI_ESTIMATOR,
    PAPER_MI_OPTIONS,
    PAPER_N_ESTIMATORS,
)

__all__ = ["Component", "ConfigError", "EvalConfig", "PAPER_FIELDS", "renamed_fields"]

_COMPONENTS = {"text_encoder": "encoder", "image_encoder": "encoder", "estimator": "mi-estimator",
               "divergence": "divergence"}


#: the fields the paper's estimators set (``EvalConfig.paper()``, ``--paper``, ``paper: true``)
PAPER_FIELDS: dict[str, Any] = {"estimator": Component(PAPER_MI_ESTIMATOR, PAPER_MI_OPTIONS),
                                "divergence": Component(PAPER_DIVERGENCE), "n_estimators": PAPER_N_ESTIMATORS}

#: set while a config is read back from a results file (:meth:`EvalConfig.from_record`): names are taken as
#: written, since the machine reading it may lack a plugin the writing one had
_RECORDED: contextvars.ContextVar[bool] = contextvars.ContextVar("mllmshift_recorded_config", default=False)


class ConfigError(DataError):
    """A config value that cannot be used; ``field`` is the :class:`EvalConfig` field."""


@contextlib.contextmanager
def renamed_fields(names: Mapping[str, str], *, path: str | os.PathLike[str] | None = None,
                   lines: Mapping[str, int] | None = None) -> Iterator[None]:
    """Re-raise a :class:`ConfigError` from the block with the field as the user wrote it (a flag such as
    ``--bootstrap``, or a YAML field such as ``bootstrap.n_resamples`` with its line in ``path``)."""
    from mllmshift.io.yaml_strict import YamlDocument

    try:
        yield
    except ConfigError as err:
        name = names.get(err.field or "", err.field)
        line = None if name is None else YamlDocument(None, lines or {}).line_of(name)
        raise DataError(err.message, path=path if path is not None else err.path, line=line, field=name) from None


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"expected an integer, got {value!r}", field=name)
    if value < low:
        raise ConfigError(f"must be >= {low}, got {value}", field=name)
    return value


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"expected a finite number, got {value!r}", field=name)
    return float(value)


#: ensembles above this size are refused; above WARN_N_ESTIMATORS they warn of the cost (validation measured
#: K ≤ 10: docs/estimators.md)
MAX_N_ESTIMATORS = 100
WARN_N_ESTIMATORS = 20


def min_resamples(confidence: float) -> int:
    """The fewest bootstrap resamples B whose percentile interval at ``confidence`` has resamples beyond each end:
    each tail holds B·(1 − confidence)/2 of them, so B ≥ 2/(1 − confidence) (40 at 95 %, 2,000 at 99.9 %).
    With fewer the ends are the extreme resamples and the stated confidence is not what the interval has."""
    import math

    return math.ceil(2.0 / (1.0 - confidence) - 1e-9)


@dataclass(frozen=True)
class EvalConfig:
    """Everything that, with the data, determines the numbers of an evaluation.

    Attributes:
        text_encoder, image_encoder: encoders (registry names or plugins, with options; e.g.
            ``Component("hf-embedding-layer", {"model_name_or_path": "xlm-roberta-base"})``);
            ``image_encoder`` None uses no image encoder (captions may still stand in for images).
        fusion: how X is made (:data:`mllmshift.vocab.FUSIONS`).
        estimator: the MI estimator fitted on the pooled pairs (default CLUB, hidden 250, ×3; ``--paper``: one CLUB, hidden 500). Its
            registry entry's default options (:meth:`mllmshift.registry.Registry.options`) are filled in under
            the options given, so a bare name means the same component from every route.
        checkpoint: load a saved estimator of any kind (or the authors' CLUB state dict) instead of fitting.
        n_estimators: K estimators fitted with seeds ``derive_seed(seed, "estimator", k)`` (``seed`` itself for
            K = 1); point values are means over them and bootstrap replicate b uses member b mod K. None: the
            default ensemble (:data:`~mllmshift.vocab.DEFAULT_N_ESTIMATORS`), or 1 with a ``checkpoint``.
        folds: cross-fitting folds of every fitted estimator (default
            :data:`~mllmshift.vocab.DEFAULT_FOLDS`): each pair is scored by a fit that saw no version of
            its item, so no estimate rests on memorised pairs; 0 fits and scores on the same pairs (in-sample).
            Estimators that are not trained (KSG, Gaussian) and a loaded ``checkpoint`` ignore it.
        divergence: the JSD estimator of the bound's four terms (default ``rjsd-debiased``, the same estimator
            at every n; ``rjsd`` is the paper's).
        bound_form: ``scale-adjusted`` (Ĥ = 1, no factor 4) or ``theorem`` (needs ``entropy_scale`` = Ĥ).
        n_resamples, confidence: percentile bootstrap of EMI and EMID (0 resamples: no intervals).
        bootstrap_scheme: ``auto`` (multinomial while B × n is small, the chunk-wise Poisson bootstrap beyond),
            ``multinomial`` or ``poisson`` (:mod:`mllmshift.resampling`).
        device: where encoders, estimator training and scoring run: ``cpu`` (default), ``cuda`` or ``auto``
            (CUDA when torch sees one); results agree across devices within float tolerance (docs/scale.md).
        seed: seed of estimator training, bootstrap and seeded divergences.
        threads: CPU threads of the run (torch, BLAS, OpenMP; None: :func:`mllmshift.threads.choose_threads`
            picks them from the usable CPUs and the load); does not change the numbers.
        plugins: modules allowed to provide ``module:Class`` components (the allow-list of
            :func:`mllmshift.plugins.load_plugin`; packages declaring a ``mllmshift.<kind>`` entry point need
            no entry). Whether a plugin component is allowed, not stdlib and a subclass of its base is
            checked by ``check_runnable`` before anything runs.
    """

    text_encoder: Component = Component(DEFAULT_TEXT_ENCODER)
    image_encoder: Component | None = Component(DEFAULT_IMAGE_ENCODER)
    fusion: str = DEFAULT_FUSION
    estimator: Component = Component(DEFAULT_MI_ESTIMATOR)
    checkpoint: str | None = None
    n_estimators: int | None = None
    folds: int = DEFAULT_FOLDS
    divergence: Component = Component(DEFAULT_DIVERGENCE)
    bound_form: str = "scale-adjusted"
    entropy_scale: float | None = None
    n_resamples: int = 1000
    confidence: float = 0.95
    bootstrap_scheme: str = "auto"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    plugins: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if isinstance(self.plugins, str) or not all(isinstance(p, str) and p for p in self.plugins):
            raise ConfigError(f"expected a list of module names, got {self.plugins!r}", field="plugins")
        object.__setattr__(self, "plugins", tuple(self.plugins))
        recorded = _RECORDED.get()
        for name, kind in _COMPONENTS.items():
            value = getattr(self, name)
            if value is None and name == "image_encoder":
                continue
            try:
                comp = Component.of(value)
                if not recorded:  # a results file may name a plugin absent here: it is read as written
                    check_known(kind, comp.name)
                comp = with_defaults(kind, comp)
            except MllmshiftError as err:
                raise ConfigError(str(err), field=name) from None
            object.__setattr__(self, name, comp)
        if self.fusion not in FUSIONS:
            raise ConfigError(f"expected one of {', '.join(FUSIONS)}, got {self.fusion!r}", field="fusion")
        if self.checkpoint is not None:
            if not isinstance(self.checkpoint, (str, os.PathLike)) or not str(self.checkpoint):
                raise ConfigError(f"expected a file path, got {self.checkpoint!r}", field="checkpoint")
            object.__setattr__(self, "checkpoint", str(self.checkpoint))
        if self.n_estimators is None:  # the default ensemble; a loaded checkpoint is one estimator
            object.__setattr__(self, "n_estimators", 1 if self.checkpoint is not None else DEFAULT_N_ESTIMATORS)
        _int(self.n_estimators, "n_estimators", 1)
        if self.n_estimators > MAX_N_ESTIMATORS:
            raise ConfigError(f"{self.n_estimators} estimators is beyond what the tool is built and measured for "
                              f"(at most {MAX_N_ESTIMATORS}; members beyond ~{WARN_N_ESTIMATORS} change the mean by "
                              "less than its bootstrap error while the cost grows linearly)", field="n_estimators")
        if self.n_estimators > WARN_N_ESTIMATORS:
            import warnings

            from mllmshift.errors import MllmshiftWarning

            warnings.warn(MllmshiftWarning(f"{self.n_estimators} estimators cost {self.n_estimators}× one fit "
                                           f"(the default is {DEFAULT_N_ESTIMATORS}; more than {WARN_N_ESTIMATORS} "
                                           "is far beyond what was measured)"), stacklevel=3)
        if self.checkpoint is not None and self.n_estimators != 1:
            raise ConfigError("a loaded checkpoint is one estimator; n_estimators must be 1", field="n_estimators")
        _int(self.folds, "folds", 0)
        if self.folds == 1:
            raise ConfigError("one fold leaves nothing to fit on: give 0 (in-sample) or at least 2", field="folds")
        if self.bound_form not in BOUND_FORMS:
            raise ConfigError(f"expected one of {', '.join(BOUND_FORMS)}, got {self.bound_form!r}",
                              field="bound_form")
        if self.entropy_scale is not None:
            scale = _finite(self.entropy_scale, "entropy_scale")
            if scale <= 0:
                raise ConfigError(f"must be > 0, got {self.entropy_scale}", field="entropy_scale")
            if self.bound_form != "theorem":
                raise ConfigError("is Ĥ of the theorem's form; the scale-adjusted form has Ĥ = 1 (give form "
                                  "'theorem' to use it)", field="entropy_scale")
            object.__setattr__(self, "entropy_scale", scale)
        elif self.bound_form == "theorem":
            raise ConfigError("the theorem's form needs entropy_scale (Ĥ); use the scale-adjusted form otherwise",
                              field="entropy_scale")
        _int(self.n_resamples, "n_resamples", 0)
        conf = _finite(self.confidence, "confidence")
        if not 0.0 < conf < 1.0:
            raise ConfigError(f"must be in (0, 1), got {self.confidence}", field="confidence")
        if self.n_resamples == 1:
            raise ConfigError("1 resample gives a zero-width interval around one resample, not around the estimate; "
                              f"give 0 (no intervals) or at least {min_resamples(conf)} (2/(1 − confidence))",
                              field="n_resamples")
        object.__setattr__(self, "confidence", conf)
        if self.bootstrap_scheme not in BOOTSTRAP_SCHEMES:
            raise ConfigError(f"expected one of {', '.join(BOOTSTRAP_SCHEMES)}, got {self.bootstrap_scheme!r}",
                              field="bootstrap_scheme")
        if not isinstance(self.device, str) or self.device.split(":", 1)[0] not in DEVICES:
            raise ConfigError(f"expected one of {', '.join(DEVICES)} (or cuda:N), got {self.device!r}",
                              field="device")
        _int(self.seed, "seed", 0)
        if self.seed >= 2**63:
            raise ConfigError(f"must be < 2**63, got {self.seed}", field="seed")
        if self.threads is not None:
            _int(self.threads, "threads", 1)

    # ------------------------------------------------------------------ construction
    @classmethod
    def paper(cls, **overrides: Any) -> EvalConfig:
        """The paper's estimators: one CLUB (hidden size 500, ≤ 200 epochs) and linear RJSD."""
        kw: dict[str, Any] = {**PAPER_FIELDS, **overrides}
        return cls(**kw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalConfig:
        """The inverse of :meth:`to_dict`; components may also be given as bare names."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config field(s) {sorted(unknown)}; fields are {', '.join(sorted(known))}",
                              field=sorted(unknown)[0])
        kw = dict(data)
        if "plugins" in kw and isinstance(kw["plugins"], list):
            kw["plugins"] = tuple(kw["plugins"])
        return cls(**kw)

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> EvalConfig:
        """:meth:`from_dict` for a config recorded in a results file: values are checked, but component names
        are not looked up (a plugin or checkpoint of the writing machine may be absent here); nothing runs
        from it unless :func:`mllmshift.evaluation.runnable.check_runnable` accepts it."""
        token = _RECORDED.set(True)
        try:
            return cls.from_dict(data)
        finally:
            _RECORDED.reset(token)

    def with_(self, **changes: Any) -> EvalConfig:
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (components as ``{name, options}``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Component):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def fingerprint(self) -> str:
        """A hash of everything that changes the numbers (``threads`` and ``device`` change them by float
        rounding at most, and do not count)."""
        return stable_hash({k: v for k, v in self.to_dict().items() if k not in ("threads", "device")})
