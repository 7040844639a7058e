"""``mllmshift encoders``: list the registered encoders, or embed one field of a JSONL file.

    mllmshift encoders list
    mllmshift encoders embed --encoder use-multilingual --input data.jsonl --field question --out q.npy

``embed`` writes the (n × dim) float32 unit rows to ``--out`` and, next to it,
``<out>.json`` with the encoder's config and fingerprint, the input's path and
SHA-256 and the field, so the array can be traced back and recomputed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from mllmshift.cli._common import parse_key_values
from mllmshift.errors import DataError
from mllmshift.vocab import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("encoders", help="list encoders, or embed a field of a JSONL file",
                       description="Text and image encoders that turn samples into embeddings.")
    verbs = p.add_subparsers(dest="encoders_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    lst = verbs.add_parser("list", help="registered encoders: name, modality, dim, extra, description")
    lst.set_defaults(func=run_list)

    emb = verbs.add_parser("embed", help="embed one field of every record of a JSONL file into a .npy array")
    emb.add_argument("--encoder", required=True, help="registered encoder name (see 'mllmshift encoders list')")
    emb.add_argument("--input", required=True, type=Path, help="JSONL file, one JSON object a line")
    emb.add_argument("--field", default="question",
                     help="field to embed: text for text encoders, an image path (relative to the file) for "
                          "image encoders (default: %(default)s)")
    emb.add_argument("--out", required=True, type=Path, help="output .npy file")
    emb.add_argument("--encoder-option", "--option", dest="option", action="append", default=[], metavar="KEY=VALUE",
                     help="encoder constructor option (VALUE parsed as JSON when it can be), repeatable; "
                          "e.g. --encoder-option model_name_or_path=/models/clip-vit-large-patch14")
    emb.add_argument("--allow-plugin", action="append", default=[], metavar="MODULE",
                     help="allow a package.module:Class encoder from MODULE (repeatable)")
    emb.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
    emb.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    emb.add_argument("--quiet", action="store_true", help="no progress bar")
    emb.set_defaults(func=run_embed)


def _dim_of(name: str) -> str:
    from mllmshift.encoders import encoders

    import inspect

    try:
        cls = encoders.get(name)
    except Exception:  # missing optional dependency: still list it
        return "?"
    dim = getattr(cls, "dim", 0)
    if isinstance(dim, int) and dim > 0:
        return str(dim)
    try:
        return "option" if "dim" in inspect.signature(cls).parameters else "model"
    except (TypeError, ValueError):  # pragma: no cover
        return "?"


def run_list(args: argparse.Namespace) -> int:
    from mllmshift.encoders import encoders

    rows = [(e.name, _modality_of(e.name), _dim_of(e.name), e.extra or "-", e.description)
            for e in encoders.entries()]
    header = ("name", "modality", "dim", "extra", "description")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        sys.stdout.write("  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] + "\n")
    return EXIT_OK


def _modality_of(name: str) -> str:
    from mllmshift.encoders import encoders

    try:
        cls = encoders.get(name)
    except Exception:
        return "?"
    import inspect

    try:
        if "modality" in inspect.signature(cls).parameters:  # chosen per instance
            return "text|image"
    except (TypeError, ValueError):  # pragma: no cover - uninspectable factory
        pass
    return str(getattr(cls, "modality", "?"))


def read_field(path: Path, field: str, modality: str) -> list[Any]:
    """The ``field`` of every record (image paths resolved against the file's folder)."""
    from mllmshift.io import iter_jsonl

    values: list[Any] = []
    for line, obj in iter_jsonl(path):
        if obj.get(field) is None:
            raise DataError("missing", path=path, line=line, field=field)
        value = obj[field]
        if not isinstance(value, str):
            raise DataError(f"expected a string, got {type(value).__name__}", path=path, line=line, field=field)
        if modality == "image":
            p = Path(value) if os.path.isabs(value) else path.parent / value
            if not p.is_file():
                raise DataError(f"image file not found: {p}", path=path, line=line, field=field)
            value = str(p)
        values.append(value)
    if not values:
        raise DataError("no records", path=path)
    return values


def run_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from mllmshift.encoders.pipeline import build_encoder, encoder_record
    from mllmshift.evaluation.embedding import default_cache_dir
    from mllmshift.io.atomic import atomic_open, atomic_write_text

    from mllmshift.cli._outputs import check_path

    check_path(args.out, "--out", folder=False)
    check_path(args.cache_dir, "--cache-dir", folder=True)
    from mllmshift.cli._outputs import check_disjoint

    check_disjoint([("--input", args.input)], [("--out", args.out, False),
                                               ("--out (its .json sidecar)", args.out.with_name(args.out.name + ".json"),
                                                False)])
    encoder = build_encoder(args.encoder, allowed=args.allow_plugin,
                            **parse_key_values(args.option, "--encoder-option"))
    items = read_field(args.input, args.field, encoder.modality)
    progress = not args.quiet
    if args.no_cache:
        x = encoder.encode(items, progress=progress)
    else:
        from mllmshift.encoders.cache import EmbeddingCache

        x = EmbeddingCache(args.cache_dir or default_cache_dir()).encode(encoder, items, progress=progress)

    with atomic_open(args.out) as fh:
        np.save(fh, x)
    sidecar = {"input": str(args.input.resolve()), "input_sha256": hashlib.sha256(args.input.read_bytes()).hexdigest(),
               "field": args.field, "n": int(x.shape[0]), "dim": int(x.shape[1]), "encoder": encoder_record(encoder)}
    meta = args.out.with_name(args.out.name + ".json")
    atomic_write_text(meta, json.dumps(sidecar, indent=2, default=str) + "\n")
    sys.stdout.write(f"wrote {args.out} ({x.shape[0]} × {x.shape[1]}) and {meta.name}\n")
    return EXIT_OK
