"""Options and steps shared by the ``emi`` and ``emid`` verbs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.atomic import atomic_write_text
from mllmshift.records import Split


def default_cache_dir() -> Path:
    """``$MLLMSHIFT_CACHE``, else ``$XDG_CACHE_HOME/mllmshift``, else ``~/.cache/mllmshift``."""
    if os.environ.get("MLLMSHIFT_CACHE"):
        return Path(os.environ["MLLMSHIFT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mllmshift"


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


def add_pipeline_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embedding and estimation")
    g.add_argument("--text-encoder", default="use-multilingual", help="registered text encoder (default: %(default)s)")
    g.add_argument("--image-encoder", default="efficientnet-lite0",
                   help="registered image encoder, used when samples have image paths (default: %(default)s)")
    g.add_argument("--fusion", default="auto", choices=["auto", "mean", "concat", "text"],
                   help="how image and question embeddings make X (default: mean for equal dims, else concat)")
    g.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    g.add_argument("--mi-estimator", default=None, metavar="NAME",
                   help="registered MI estimator fitted on the pooled pairs (default: smile, chosen by the "
                        "ground-truth and real-data validation; club is the paper's; see `mllmshift estimators list`)")
    g.add_argument("--estimator-option", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor option of the MI estimator, e.g. lr=1e-3 (repeatable; VALUE parsed as "
                        "JSON when it can be)")
    g.add_argument("--divergence", default=None, metavar="NAME",
                   help="JSD estimator of the bound's four terms (default: rjsd-debiased, linear RJSD with its "
                        "finite-sample bias removed; rjsd is the paper's)")
    g.add_argument("--paper", action="store_true",
                   help="the paper's estimators: CLUB (hidden size 500, at most 200 epochs) and linear RJSD")
    g.add_argument("--estimator", type=Path,
                   help="load a saved MI estimator (any kind, or the authors' CLUB state dict) instead of fitting")
    g.add_argument("--save-estimator", type=Path, help="save the estimator fitted here")
    g.add_argument("--hidden-size", type=int, default=None, help="shortcut for --estimator-option hidden_size=N")
    g.add_argument("--max-epochs", type=int, default=None,
                   help="shortcut for --estimator-option max_epochs=N (CLUB)")
    g.add_argument("--seed", type=int, default=0, help="seed of estimator training and bootstrap (default: 0)")
    g.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                   help="bootstrap resamples for confidence intervals, 0 for none (default: 1000)")
    g.add_argument("--confidence", type=float, default=0.95)
    g.add_argument("--json", action="store_true", help="print every number, the config and versions as JSON")
    g.add_argument("--out", type=Path, help="also write the JSON result to this file")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


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


def estimator_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--estimator-option KEY=VALUE`` pairs plus the --hidden-size/--max-epochs shortcuts."""
    options = parse_key_values(args.estimator_option, "--estimator-option")
    if args.hidden_size is not None:
        options["hidden_size"] = args.hidden_size
    if args.max_epochs is not None:
        options["max_epochs"] = args.max_epochs
    return options


def read_args_split(path: str, args: argparse.Namespace, name: str | None = None) -> Split:
    from mllmshift.io import read_split

    options: dict[str, Any] = {}
    for key in ("questions", "references", "captions", "image_folder"):
        if getattr(args, key, None):
            options[key] = getattr(args, key)
    if args.columns:
        try:
            options["columns"] = dict(kv.split("=", 1) for kv in args.columns.split(","))
        except ValueError:
            raise DataError(f"--columns must look like field=column,field=column, got {args.columns!r}") from None
    if args.hf_split:
        options["split"] = args.hf_split
    fmt = args.format
    if fmt == "auto":
        from mllmshift.io.readers import sniff_format

        if Path(path).exists() and sniff_format(path) == "alpaca-eval":
            fmt = "alpaca-eval"
    if fmt == "alpaca-eval":
        extra = set(options) - {"references"}
        if extra:
            raise DataError(f"--format alpaca-eval takes only --references, got {sorted(extra)}")
    elif fmt == "auto" and options and not Path(path).is_dir() and not path.endswith(".parquet"):
        llava_opts = {"questions", "references", "captions", "image_folder"}
        if set(options) & llava_opts:
            fmt = "llava"
    return read_split(path, format=fmt, name=name, **options)


def emit(result: dict[str, Any], args: argparse.Namespace, human: str) -> None:
    """Print the human summary (or JSON) and write ``--out``."""
    text = json.dumps(result, indent=2, sort_keys=False, default=float)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    if args.json:
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(human + "\n")
        if args.out:
            sys.stdout.write(f"wrote {args.out}\n")
