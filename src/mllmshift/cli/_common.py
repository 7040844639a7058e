"""Options shared by the verbs, and the one mapping of flags onto :class:`~mllmshift.evaluation.config.EvalConfig`
(what the verbs write is checked and written by :mod:`mllmshift.cli._outputs`).

Flags keep their names across verbs (``--bootstrap`` sets ``n_resamples``, ``--estimator PATH`` sets
``checkpoint``, ``--mi-estimator`` the estimator's name, ...); :data:`FLAGS` says which flag sets which field,
so a bad value is reported under the flag the user typed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mllmshift.components import Component
from mllmshift.errors import DataError
from mllmshift.records import Split
from mllmshift.vocab import (
    DEFAULT_IMAGE_ENCODER,
    DEFAULT_N_ESTIMATORS,
    DEFAULT_TEXT_ENCODER,
    FUSIONS,
    default_estimator_options,
)

#: EvalConfig field → the flag that sets it
FLAGS = {"text_encoder": "--text-encoder", "image_encoder": "--image-encoder", "fusion": "--fusion",
         "text_encoder_options": "--text-encoder-option", "image_encoder_options": "--image-encoder-option",
         "estimator": "--mi-estimator",
         "estimator_options": "--estimator-option", "checkpoint": "--estimator", "n_estimators": "--n-estimators",
         "folds": "--folds",
         "divergence": "--divergence", "bound_form": "--entropy-scale", "entropy_scale": "--entropy-scale",
         "n_resamples": "--bootstrap", "confidence": "--confidence", "seed": "--seed", "threads": "--threads",
         "plugins": "--allow-plugin", "device": "--device", "bootstrap_scheme": "--bootstrap-scheme"}


def add_reader_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (how to read the given files)")
    from mllmshift.io.readers import FORMATS

    g.add_argument("--format", default="auto", choices=list(FORMATS),
                   help="input format (default: sniffed from the file)")
    g.add_argument("--questions", help="LLaVA questions JSONL (joined on question_id)")
    g.add_argument("--references", help="reference answers: a LLaVA answer JSONL (joined on question_id), or with "
                                        "alpaca-eval the baseline model's model_outputs.json (joined on instruction)")
    g.add_argument("--captions", help="captions JSONL whose captions stand in for missing images")
    g.add_argument("--image-folder", help="folder of the images named in the questions file")
    g.add_argument("--columns", help="hf/Parquet column mapping, e.g. id=question_id,question=prompt")
    g.add_argument("--hf-split", help="split of a saved DatasetDict")
    g.add_argument("--allow-empty-answers", action="store_true",
                   help="keep empty or whitespace-only responses/references (an error by default); results warn")
    g.add_argument("--allow-mixed-visual", action="store_true",
                   help="accept a split where only some samples have an image or caption (an error by default); "
                        "results warn")


def add_encoder_args(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """--text-encoder/--image-encoder with their --*-encoder-option KEY=VALUE, --fusion and --allow-plugin."""
    g = p.add_argument_group("encoders")
    default = "%(default)s" if defaults else "the config's"
    g.add_argument("--text-encoder", default=DEFAULT_TEXT_ENCODER if defaults else None,
                   help=f"registered text encoder or package.module:Class (default: {default})")
    g.add_argument("--text-encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="text encoder option, repeatable; e.g. model_name_or_path=/models/xlm-roberta-base for "
                        "hf-embedding-layer")
    g.add_argument("--image-encoder", default=DEFAULT_IMAGE_ENCODER if defaults else None,
                   help="registered image encoder (or 'none'), used when samples have image paths "
                        f"(default: {default})")
    g.add_argument("--image-encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="image encoder option, repeatable; e.g. model_name_or_path=/models/clip-vit-base-patch32 "
                        "for clip-vision")
    g.add_argument("--fusion", default="auto" if defaults else None, choices=list(FUSIONS),
                   help="how image and question embeddings make X (default: " + (
                       "auto = mean for equal dims, else concat)" if defaults else "the config's)"))
    g.add_argument("--allow-plugin", action="append", default=[], metavar="MODULE",
                   help="allow package.module:Class components from MODULE (repeatable)")


def add_pipeline_args(p: argparse.ArgumentParser) -> None:
    add_encoder_args(p)
    g = p.add_argument_group("estimation")
    g.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    g.add_argument("--mi-estimator", default=None, metavar="NAME",
                   help="registered MI estimator fitted on the pooled pairs (default: smile with max_steps=300, "
                        "patience=3, chosen by the ground-truth and real-data validation; club is the paper's; see "
                        "`mllmshift estimators list`)")
    g.add_argument("--estimator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor option of the MI estimator, e.g. lr=1e-3 (repeatable; VALUE parsed as "
                        "JSON when it can be)")
    g.add_argument("--n-estimators", type=int, default=None, metavar="K",
                   help="fit K estimators with derived seeds: values are their mean, the bootstrap uses member "
                        f"b mod K for replicate b, and EMIDs whose sign the members disagree on are flagged (default: "
                        f"{DEFAULT_N_ESTIMATORS}; 1 with --paper or --estimator)")
    g.add_argument("--folds", type=int, default=None, metavar="F",
                   help="cross-fit every fitted estimator over F folds of the sample ids, so each pair is scored by "
                        "a fit that never saw its item (default: 3; 0 fits and scores on the same pairs)")
    g.add_argument("--divergence", default=None, metavar="NAME",
                   help="JSD estimator of the bound's four terms (default: rjsd-debiased, linear RJSD with its "
                        "finite-sample bias removed; rjsd is the paper's)")
    g.add_argument("--paper", action="store_true",
                   help="the paper's estimators: one CLUB (hidden size 500, at most 200 epochs) and linear RJSD")
    g.add_argument("--estimator", type=Path,
                   help="load a saved MI estimator (any kind, or the authors' CLUB state dict) instead of fitting")
    g.add_argument("--save-estimator", type=Path, help="save the estimator fitted here (the first member)")
    g.add_argument("--hidden-size", type=int, default=None, help="shortcut for --estimator-option hidden_size=N")
    g.add_argument("--max-epochs", type=int, default=None,
                   help="shortcut for --estimator-option max_epochs=N (CLUB)")
    g.add_argument("--seed", type=int, default=0, help="seed of estimator training and bootstrap (default: 0)")
    g.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                   help="bootstrap resamples for confidence intervals, 0 for none (default: 1000)")
    g.add_argument("--confidence", type=float, default=0.95)
    g.add_argument("--bootstrap-scheme", default="auto", choices=["auto", "multinomial", "poisson"],
                   help="multinomial (classic) or Poisson bootstrap; auto: multinomial while B × n ≤ 10^7, the "
                        "chunk-wise Poisson bootstrap beyond (docs/scale.md)")
    add_threads_arg(g)
    add_scale_args(p)
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print every number, the config and versions as JSON")
    o.add_argument("--out", type=Path, help="also write the JSON result to this file (per-sample rows go to "
                   "samples/ beside it)")
    o.add_argument("--log-samples", type=Path, metavar="DIR",
                   help="write per-sample rows to DIR/<split>.jsonl (default with --out: samples/ beside it)")
    o.add_argument("--overwrite", action="store_true", help="replace the results of another run at --out")
    o.add_argument("--quiet", action="store_true", help="no progress output")


def add_threads_arg(g: Any) -> None:
    """--threads N (an argument group or parser)."""
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads (default: $MLLMSHIFT_THREADS, else chosen from the CPUs this process may use "
                        "and the load beside it)")


def add_scale_args(p: argparse.ArgumentParser) -> None:
    """--device, --engine, --ray-address and --embeddings (docs/scale.md)."""
    g = p.add_argument_group("scale (docs/scale.md)")
    g.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="where encoders, estimator training and scoring run (default: cpu; auto = cuda when "
                        "available); recorded in the results")
    g.add_argument("--embeddings", type=Path, metavar="DIR",
                   help="embeddings on disk (`mllmshift embed --out DIR`), read in chunks instead of embedding; "
                        "with --engine ray, where the Ray engine writes them")
    g.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="embed here (local) or as Ray Data batch inference (ray; the mllmshift[ray] extra)")
    g.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="Ray cluster for --engine ray: auto, ray://host:10001 (default: start a local Ray)")
    g.add_argument("--ray-concurrency", type=int, default=1, metavar="N", help="embedding actors (default: 1)")


def engine_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~mllmshift.engines.EngineConfig` of --engine, --ray-address and --ray-concurrency (a bad value
    is reported under its flag)."""
    from mllmshift.engines import EngineConfig
    from mllmshift.evaluation.config import renamed_fields

    with renamed_fields({"engine": "--engine", "engine.concurrency": "--ray-concurrency"}):
        return EngineConfig(args.engine, args.ray_address, args.ray_concurrency)


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
            raise DataError(f"{flag} must look like KEY=VALUE, got {pair!r}")
        if underscores:
            key = key.replace("-", "_")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def encoder_components(args: argparse.Namespace, base: Any = None) -> dict[str, Any]:
    """The EvalConfig encoder fields the flags give (only those given). Options add to ``base``'s (a config the
    flags override) when the encoder keeps its name; ``--image-encoder none`` uses no image encoder."""
    out: dict[str, Any] = {}
    for field, name, pairs, flag in (("text_encoder", args.text_encoder, args.text_encoder_option, "--text-encoder"),
                                     ("image_encoder", args.image_encoder, args.image_encoder_option,
                                      "--image-encoder")):
        options = parse_key_values(pairs, f"{flag}-option")
        current = None if base is None else vars(base)[field]
        if name is None and not options:
            continue
        if name == "none":
            if options:
                raise DataError(f"options for no encoder: {flag} none takes no {flag}-option", field=f"{flag}-option")
            out[field] = None
            continue
        if name is None:
            if current is None:
                raise DataError(f"{flag}-option needs an encoder: give {flag} too")
            name = current.name
        keep = dict(current.options) if current is not None and current.name == name else {}
        out[field] = Component(name, {**keep, **options})
    if args.fusion is not None:
        out["fusion"] = args.fusion
    if args.allow_plugin:
        out["plugins"] = tuple(args.allow_plugin)
    return out


def eval_config_from_args(args: argparse.Namespace, entropy_scale: float | None = None) -> Any:
    """The EvalConfig of the command line: defaults, or the paper's with ``--paper``; explicit options win.
    ``entropy_scale`` (``emid --entropy-scale``) selects the theorem's form of the bound."""
    from mllmshift.evaluation.config import EvalConfig, renamed_fields

    with renamed_fields(FLAGS):
        kw: dict[str, Any] = {**encoder_components(args), "checkpoint": str(args.estimator) if args.estimator else None,
                              "seed": args.seed, "n_resamples": args.bootstrap, "confidence": args.confidence,
                              "threads": args.threads, "device": args.device, "bootstrap_scheme": args.bootstrap_scheme}
        if args.n_estimators is not None:
            kw["n_estimators"] = args.n_estimators
        if getattr(args, "folds", None) is not None:
            kw["folds"] = args.folds
        if entropy_scale is not None:
            kw.update(bound_form="theorem", entropy_scale=entropy_scale)
        base = EvalConfig.paper(**kw) if args.paper else EvalConfig(**kw)
        options = parse_key_values(args.estimator_option, "--estimator-option")
        if args.hidden_size is not None:
            options["hidden_size"] = args.hidden_size
        if args.max_epochs is not None:
            options["max_epochs"] = args.max_epochs
        estimator = base.estimator
        if args.mi_estimator is not None and args.mi_estimator != estimator.name:
            estimator = Component(args.mi_estimator, default_estimator_options(args.mi_estimator))
        changes: dict[str, Any] = {"estimator": Component(estimator.name, {**estimator.options, **options})}
        if args.divergence is not None:
            changes["divergence"] = Component(args.divergence)
        return base.with_(**changes)


def eval_overrides(args: argparse.Namespace, base: Any) -> dict[str, Any]:
    """The EvalConfig fields that flags given on the command line change in ``base`` (a config's, or the
    defaults): encoders (:func:`encoder_components`), ``--mi-estimator`` with ``--estimator-option`` (options
    add to the base's when the estimator keeps its name), ``--n-estimators``, ``--estimator PATH``,
    ``--divergence``, ``--seed``, ``--bootstrap``, ``--confidence``, ``--threads`` and ``--device``; a flag
    left out (None) changes nothing."""
    changes = encoder_components(args, base)
    options = parse_key_values(args.estimator_option, "--estimator-option")
    if args.mi_estimator is not None or options:
        name = args.mi_estimator or base.estimator.name
        keep = dict(base.estimator.options) if name == base.estimator.name else {}
        changes["estimator"] = Component(name, {**keep, **options})
    if args.divergence is not None:
        changes["divergence"] = Component(args.divergence)
    if args.estimator is not None:
        changes["checkpoint"] = str(args.estimator)
    for field, value in (("n_estimators", args.n_estimators), ("folds", getattr(args, "folds", None)),
                         ("seed", args.seed), ("n_resamples", args.bootstrap),
                         ("confidence", args.confidence), ("threads", args.threads), ("device", args.device)):
        if value is not None:
            changes[field] = value
    return changes


def cache_from_args(args: argparse.Namespace) -> Any:
    from mllmshift.evaluation.embedding import default_cache_dir, open_cache

    return None if args.no_cache else open_cache(args.cache_dir or default_cache_dir())


#: reading flag → the reader option it sets
READER_FLAGS = {"questions": "--questions", "references": "--references", "captions": "--captions",
                "image_folder": "--image-folder", "columns": "--columns", "split": "--hf-split"}
#: the reading flags (by option) each format takes
READER_OPTIONS = {"jsonl": frozenset(), "lmms-eval": frozenset(), "alpaca-eval": frozenset({"references"}),
                  "llava": frozenset({"questions", "references", "captions", "image_folder"}),
                  "hf": frozenset({"columns", "split"}), "vlmevalkit": frozenset({"columns"})}


def read_args_split(path: str, args: argparse.Namespace, name: str | None = None) -> Split:
    """The split at ``path`` read as the reading flags say; a flag the (given or sniffed) format does not take
    is a :class:`DataError` naming the flags, e.g. ``--format jsonl`` with ``--questions``."""
    from mllmshift.io import read_split
    from mllmshift.io.readers import sniff_format

    options: dict[str, Any] = {}
    for key in ("questions", "references", "captions", "image_folder"):
        value = vars(args)[key]
        if value:
            options[key] = value
    if args.columns:
        try:
            options["columns"] = dict(kv.split("=", 1) for kv in args.columns.split(","))
        except ValueError:
            raise DataError(f"--columns must look like field=column,field=column, got {args.columns!r}") from None
    if args.hf_split:
        options["split"] = args.hf_split
    fmt = args.format
    if fmt == "auto" and Path(path).exists():
        sniffed = sniff_format(path)
        if sniffed in ("alpaca-eval", "hf", "vlmevalkit") or not options:
            fmt = sniffed
        elif set(options) & READER_OPTIONS["llava"] and not Path(path).is_dir():
            fmt = "llava"  # a JSONL of answers with its questions/references files beside it
    extra = set(options) - READER_OPTIONS.get(fmt, frozenset(options))
    if extra:
        takes = READER_OPTIONS[fmt]
        said = "reads a file that holds everything it needs" if not takes else \
            f"takes only {', '.join(READER_FLAGS[k] for k in sorted(takes))}"
        verb = "does" if len(extra) == 1 else "do"
        raise DataError(f"{', '.join(READER_FLAGS[k] for k in sorted(extra))} {verb} not apply to --format {fmt}, "
                        f"which {said}" + ("; LLaVA answer files with separate questions and references are "
                                           "--format llava" if fmt == "jsonl" else ""), path=path, field="--format")
    return read_split(path, format=fmt, name=name, allow_empty=args.allow_empty_answers,
                      allow_mixed_visual=args.allow_mixed_visual, **options)
