"""Flags shared by the verbs beyond the evaluation settings (those, and how flags become an
:class:`~mllmshift.evaluation.config.EvalConfig`, are :mod:`mllmshift.settings`): reading, running, the engine
(what the verbs write is checked and written by :mod:`mllmshift.cli._outputs`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mllmshift.engines import ENGINES
from mllmshift.errors import DataError
from mllmshift.records import Split
from mllmshift.settings import add_eval_args, deprecated_alias, flag_values, parse_key_values, resolve

__all__ = ["add_reader_args", "add_run_args", "add_pipeline_args", "add_scale_args", "engine_from_args",
           "eval_config_from_args", "parse_key_values", "cache_from_args", "read_args_split"]

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


def add_run_args(p: Any, *, overwrite: str = "replace the results of another run at --out",
                 cache: bool = True) -> None:
    """The flags of how a run runs, one spelling each across verbs: ``--quiet`` (old: ``--no-progress``),
    ``--overwrite`` (old: ``--restart``) and the embedding cache's ``--cache-dir`` / ``--no-cache``."""
    quiet = deprecated_alias(argparse._StoreTrueAction, {"--no-progress": "--quiet"})
    p.add_argument("--quiet", "--no-progress", dest="quiet", action=quiet, default=False, help="no progress output")
    if overwrite:
        over = deprecated_alias(argparse._StoreTrueAction, {"--restart": "--overwrite"})
        p.add_argument("--overwrite", "--restart", dest="overwrite", action=over, default=False, help=overwrite)
    if cache:
        p.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
        p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")


def add_pipeline_args(p: argparse.ArgumentParser, verb: str) -> None:
    """The flags of ``emi``/``emid``: the settings (:func:`mllmshift.settings.add_eval_args`), scale and output."""
    add_eval_args(p, verb)
    p.add_argument("--save-estimator", type=Path, help="save the estimator fitted here (the first member)")
    add_scale_args(p)
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print every number, the config and versions as JSON")
    o.add_argument("--out", type=Path, help="also write the JSON result to this file (per-sample rows go to "
                   "samples/ beside it)")
    o.add_argument("--log-samples", type=Path, metavar="DIR",
                   help="write per-sample rows to DIR/<split>.jsonl (default with --out: samples/ beside it)")
    add_run_args(o)


def add_scale_args(p: argparse.ArgumentParser, *, engine_default: str | None = "local") -> None:
    """--embeddings, --engine, --ray-address and --ray-concurrency (docs/scale.md; --device and --threads are
    settings)."""
    g = p.add_argument_group("engine (docs/scale.md)")
    g.add_argument("--embeddings", type=Path, metavar="DIR",
                   help="embeddings on disk (`mllmshift embed --out DIR`), read in chunks instead of embedding; "
                        "with --engine ray, where the Ray engine writes them")
    g.add_argument("--engine", default=engine_default, choices=list(ENGINES),
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


def eval_config_from_args(args: argparse.Namespace, *, verb_defaults: Mapping[str, Any] | None = None) -> Any:
    """The EvalConfig of the command line (:func:`mllmshift.settings.resolve` of the flags given over the
    defaults), checked runnable here; a refused value names its flag."""
    return resolve(flag_values(args), None, verb_defaults, runnable=True)


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
