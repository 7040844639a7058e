"""``mllmshift fit DATA [DATA ...] --save-estimator FILE``: fit the MI estimator once on a declared fitting set.

The saved file (:mod:`mllmshift.evaluation.artifact`) holds every member with the fit's fingerprint, its fitting
set and the encoders it was fitted on; ``emi``, ``emid``, ``study`` and ``monitor`` load it with ``--estimator``
(``--estimator-file``), and then a split's EMI is the same whatever else a call is given.
"""

from __future__ import annotations

import argparse
from typing import Any

from mllmshift.cli._common import (
    add_pipeline_args,
    add_reader_args,
    cache_from_args,
    eval_config_from_args,
    read_args_split,
)
from mllmshift.cli._outputs import check_output, check_output_paths, check_path, emit
from mllmshift.errors import UsageError
from mllmshift.vocab import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("fit", help="fit the MI estimator once on a declared fitting set and save it",
                       description="Fit the MI estimator (the configured kind and ensemble) on the pooled (X, Ŷ) and "
                       "(X, Y) pairs of the given files, e.g. a benchmark's pooled responses, and save it with a "
                       "fingerprint of the encoders, the data and the config. Pass the file to emi/emid/study/monitor "
                       "with --estimator-file so every EMI is relative to this one fit.")
    p.add_argument("data", nargs="+", help="the fitting set: response files (formats as for emi)")
    p.add_argument("--fit-set-name", default=None, metavar="NAME",
                   help="name of the fitting set, recorded in the file and in every result that uses it "
                        "(default: the split names joined by '+')")
    add_reader_args(p)
    add_pipeline_args(p, "fit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mllmshift.evaluation.fit import fit_to_file
    from mllmshift.progress import progress_for

    if args.save_estimator is None:
        raise UsageError("fit needs --save-estimator FILE: where to write the fitted estimator")
    if vars(args).get("checkpoint") is not None:
        raise UsageError("fit fits an estimator; --estimator-file loads one: leave it out")
    if args.engine == "ray":
        raise UsageError("fit embeds here; embed with Ray first (`mllmshift embed --engine ray --out DIR`) and pass "
                         "--embeddings DIR")
    check_output_paths(args)
    check_path(args.save_estimator, "--save-estimator", folder=False)
    cfg = eval_config_from_args(args)
    splits = [read_args_split(p, args) for p in args.data]
    names = [s.name for s in splits]
    if len(set(names)) != len(names):
        splits = [s.renamed(f"{i}:{s.name}") for i, s in enumerate(splits)]
    from mllmshift.evaluation.samples import split_fingerprint

    identity = {"fingerprint": cfg.fingerprint(), "inputs": {s.name: split_fingerprint(s) for s in splits}}
    check_output(args.out, identity, args.overwrite)
    from mllmshift.encoders.store import EmbeddingStore

    embeddings = None if args.embeddings is None else EmbeddingStore(args.embeddings)
    art = fit_to_file(splits, cfg, args.save_estimator, name=args.fit_set_name, cache=cache_from_args(args),
                      progress=progress_for(not args.quiet), embeddings=embeddings)
    out: dict[str, Any] = {**art.manifest([f"member-{k}" for k in range(len(art.members))]), "path": art.path,
                           "config": {"eval": cfg.to_dict()}, **identity}
    fs = art.fit_set
    n = sum(int(s["n"]) for s in fs["splits"])
    human = (f"fitted {len(art.members)} × {art.estimator['name']} on the fitting set '{fs['name']}' "
             f"({len(fs['splits'])} split(s), {n} samples, {out.get('n_pairs')} pairs)\n"
             f"  fingerprint {art.fingerprint}; saved to {art.path}\n"
             f"  use it: mllmshift emi DATA --estimator-file {art.path}")
    emit(out, args, human)
    return EXIT_OK
