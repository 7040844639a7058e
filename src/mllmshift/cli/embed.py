"""``mllmshift embed DATA [DATA ...] --out DIR``: embed splits once into memory-mappable files for scoring at scale.

Writes ``DIR/<split>/<field>.npy`` and ``DIR/manifest.json`` (:mod:`mllmshift.encoders.store`) a chunk of
samples at a time, through the content cache, locally or with ``--engine ray``; ``emi``/``emid
--embeddings DIR`` then score them streaming. Prints texts/s and images/s per split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mllmshift.cli._common import (
    add_reader_args,
    add_run_args,
    add_scale_args,
    cache_from_args,
    engine_from_args,
    read_args_split,
)
from mllmshift.cli._flags import add_eval_args


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("embed", help="embed splits into .npy files for out-of-core scoring (--embeddings DIR)",
                       description="Embed each split (canonical JSONL, LLaVA answer file, Parquet or saved HF dataset) "
                       "with the configured encoders into DIR/<split>/<field>.npy plus a manifest of "
                       "fingerprints, a chunk of samples at a time; emi/emid --embeddings DIR read them.")
    p.add_argument("data", nargs="+", help="split files (one split each)")
    p.add_argument("--out", required=True, help="the embedding store folder")
    p.add_argument("--chunk", type=int, default=8192, help="samples embedded and written at a time (default: 8192)")
    add_run_args(p, overwrite="")
    add_reader_args(p)
    add_eval_args(p, "embed", encoders_only=True)
    add_scale_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mllmshift.cli._outputs import check_disjoint, check_folder_ours, check_path, claim_folder, reader_inputs
    from mllmshift.encoders.store import MANIFEST, EmbeddingStore
    from mllmshift.errors import DataError
    from mllmshift.evaluation.embedding import Encoders, embed_to_store
    from mllmshift.evaluation.pipeline import compute_settings
    from mllmshift.cli._flags import flag_values
    from mllmshift.settings import resolve

    cfg = resolve(flag_values(args), runnable=True)  # only the encoder settings are flags here
    if args.chunk < 1:
        raise DataError(f"must be a whole number of samples >= 1, got {args.chunk}", field="--chunk")
    check_path(Path(args.out), "--out", folder=True)
    check_path(None if args.no_cache or not args.cache_dir else Path(args.cache_dir), "--cache-dir", folder=True)
    check_disjoint([*(("DATA", p) for p in args.data), *reader_inputs(args)],
                   [("--out", args.out, True), ("--cache-dir", None if args.no_cache else args.cache_dir, True)])
    check_folder_ours(args.out, "--out", owned_if=(MANIFEST,))
    store = EmbeddingStore(args.out)
    store.manifest  # a foreign manifest.json is refused before any work
    splits = [read_args_split(p, args) for p in args.data]
    seen: dict[str, str] = {}
    for path, s in zip(args.data, splits):
        if s.name in seen:
            raise DataError(f"{path} and {seen[s.name]} are both split '{s.name}' (one folder in the store): "
                            "rename one file", field="DATA")
        seen[s.name] = path
    store.check_names([s.name for s in splits])
    if args.engine == "ray":
        from mllmshift.engines.ray_engine import embed_with_ray
        from mllmshift.evaluation.embedding import default_cache_dir

        cache = None if args.no_cache else str(args.cache_dir or default_cache_dir())
        engine = engine_from_args(args)
        with claim_folder(args.out, "embed"):
            lines = list(embed_with_ray(splits, cfg, store, engine, cache_dir=cache))
    else:
        encoders, cache_obj = Encoders(cfg), cache_from_args(args)
        with claim_folder(args.out, "embed"), compute_settings(cfg):
            lines = []
            for s in splits:
                lines.append(embed_to_store(s, encoders, cache_obj, store, chunk=args.chunk))
                if not args.quiet:
                    print(lines[-1].line(), file=sys.stderr)
    from mllmshift.provenance import run_record

    store.stamp_run([t.split for t in lines], run_record())
    for t in lines:
        print(f"{t.line()} -> {store.root / t.split}")
    return 0
