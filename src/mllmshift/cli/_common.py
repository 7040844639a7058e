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
from mllmshift.cli._flags import add_eval_args, deprecated_alias, flag_values, parse_key_values
from mllmshift.settings import resolve

__all__ = ["add_reader_args", "add_run_args", "add_pipeline_args", "add_scale_args", "engine_from_args",
           "eval_config_from_args", "parse_key_values", "cache_from_args", "read_args_split"]

def add_reader_args(p: argparse.ArgumentParser) -> None:
    """``--format`` (the registered readers, :mod:`mllmshift.io.readers`) and a flag per reader option (the
    options some reader takes; those with a flag), with the readers' opt-ins."""
    from mllmshift.io.readers import FORMATS, reader_options

    g = p.add_argument_group("data (how to read the given files)")
    g.add_argument("--format", default="auto", choices=list(FORMATS), type=_format_name,
                   help="input format (default: sniffed from the file; '-' and '_' alike)")
    for key, opt in reader_options().items():
        flag = opt.flag_for(key)
        if flag is not None:
            g.add_argument(flag, dest=f"reader_{key}", default=None, help=opt.help,
                           metavar={"path": "PATH", "columns": "FIELD=COLUMN,..."}.get(opt.kind, key.upper()))
    g.add_argument("--allow-empty-answers", action="store_true",
                   help="keep empty or whitespace-only responses/references (an error by default); results warn")
    g.add_argument("--allow-mixed-visual", action="store_true",
                   help="accept a split where only some samples have an image or caption (an error by default); "
                        "results warn")


def _format_name(value: str) -> str:
    """The registered name of a --format value (any spelling, or an alias); an unknown one is left for
    argparse's choices to refuse."""
    from mllmshift.io.readers import get_reader

    try:
        return value if value == "auto" else get_reader(value).name
    except DataError:
        return value


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
    p.add_argument("--save-estimator", type=Path, help="save the estimators fitted here (every member, with the "
                   "fit's fingerprint and fitting set; load it with --estimator-file)")
    add_scale_args(p)
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print every number, the config and versions as JSON")
    o.add_argument("--out", type=Path, help="also write the JSON result to this file (per-sample rows go to "
                   "samples/ beside it)")
    o.add_argument("--log-samples", type=Path, metavar="DIR",
                   help="write per-sample rows to DIR/<split>.jsonl (default with --out: samples/ beside it)")
    o.add_argument("--log-samples-text", action="store_true",
                   help="per-sample rows also carry the question (input), response (filtered_resps) and reference "
                        "(target); off by default, since they may be private")
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


def reader_flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The reader options the reading flags give (``--columns a=b,c=d`` as a mapping)."""
    from mllmshift.io.readers import reader_options

    options: dict[str, Any] = {}
    for key, opt in reader_options().items():
        value = vars(args).get(f"reader_{key}")
        if value is None or value == "":
            continue
        if opt.kind == "columns":
            try:
                value = dict(kv.split("=", 1) for kv in value.split(","))
            except ValueError:
                raise DataError(f"{opt.flag_for(key)} must look like field=column,field=column, got {value!r}",
                                field=opt.flag_for(key)) from None
        options[key] = value
    return options


def read_args_split(path: str, args: argparse.Namespace, name: str | None = None) -> Split:
    """The split at ``path`` read as the reading flags say; a flag the (given or sniffed) format does not take
    is a :class:`DataError` naming the flags, e.g. ``--format jsonl`` with ``--questions``."""
    from mllmshift.io import read_split
    from mllmshift.io.readers import get_reader, reader_options, sniff_format

    options = reader_flag_values(args)
    fmt = args.format
    if fmt == "auto" and Path(path).exists():
        fmt = sniff_format(path)
        if set(options) - set(get_reader(fmt).options) and fmt in ("jsonl", "lmms-eval") and \
                not set(options) - set(get_reader("llava").options):
            fmt = "llava"  # a JSONL of answers with its questions/references files beside it
    if fmt != "auto":
        reader = get_reader(fmt)
        extra = set(options) - set(reader.options)
        if extra:
            flags = {k: reader_options()[k].flag_for(k) or k for k in {*extra, *reader.options}}
            takes = sorted(flags[k] for k in reader.options if reader_options()[k].flag_for(k))
            said = "reads a file that holds everything it needs" if not takes else f"takes only {', '.join(takes)}"
            verb = "does" if len(extra) == 1 else "do"
            raise DataError(f"{', '.join(flags[k] for k in sorted(extra))} {verb} not apply to --format "
                            f"{reader.name}, which {said}" + ("; LLaVA answer files with separate questions and "
                                                             "references are --format llava" if fmt == "jsonl" else
                                                             ""), path=path, field="--format")
    return read_split(path, format=fmt, name=name, allow_empty=args.allow_empty_answers,
                      allow_mixed_visual=args.allow_mixed_visual, **options)
