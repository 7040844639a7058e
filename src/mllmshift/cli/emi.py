"""``mllmshift emi DATA``: effective mutual information of one split."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from mllmshift.cli._common import (
    add_pipeline_args,
    add_reader_args,
    chosen_threads,
    default_cache_dir,
    emit,
    estimator_options,
    read_args_split,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("emi", help="EMI = I(X;Ŷ) − I(X;Y) of one split of responses",
                       description="Effective mutual information of a split: how much the model's responses say "
                       "about the inputs, relative to the reference responses (0 = as informative as the reference).")
    p.add_argument("data", help="responses (canonical JSONL, LLaVA answer file, Parquet or saved HF dataset)")
    add_reader_args(p)
    add_pipeline_args(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):  # noqa: ANN201
    """The EvalConfig of the command line: defaults, or the paper's with ``--paper``; explicit options win."""
    from mllmshift.estimators import divergence_estimators, mi_estimators
    from mllmshift.evaluate import EvalConfig

    kw = {"text_encoder": args.text_encoder, "image_encoder": args.image_encoder, "fusion": args.fusion,
          "estimator_path": str(args.estimator) if args.estimator else None, "seed": args.seed,
          "bootstrap": args.bootstrap, "confidence": args.confidence,
          "entropy_scale": getattr(args, "entropy_scale", None)}
    base = EvalConfig.paper(**kw) if args.paper else EvalConfig(**kw)
    options = estimator_options(args)
    if args.mi_estimator is not None:
        mi_estimators.get(args.mi_estimator)  # an unknown name fails here, listing the known ones
        same = args.mi_estimator == base.estimator
        base = replace(base, estimator=args.mi_estimator, estimator_options=dict(base.estimator_options) if same else {})
    if args.divergence is not None:
        divergence_estimators.get(args.divergence)
        base = replace(base, divergence=args.divergence)
    return replace(base, estimator_options={**base.estimator_options, **options})


def cache_from_args(args: argparse.Namespace) -> Path | None:
    return None if args.no_cache else (args.cache_dir or default_cache_dir())


def run(args: argparse.Namespace) -> int:
    from mllmshift.evaluate import embed_splits, emi_report, get_estimator, run_metadata
    from mllmshift.threads import thread_limits

    cfg = config_from_args(args)
    split = read_args_split(args.data, args)
    threads = chosen_threads(args)
    with thread_limits(threads):
        (emb,) = embed_splits([split], cfg, cache_from_args(args), progress=not args.quiet)
        est = get_estimator([emb], cfg, progress=not args.quiet)
        if args.save_estimator and hasattr(est, "save"):
            est.save(args.save_estimator)
        res = emi_report(emb, est, cfg)
    out = {"split": split.name, "n": len(split), "emi": res, **run_metadata(cfg, est, [emb]),
           "threads": threads.to_dict()}
    ci = res.get("ci")
    human = (f"{split.name}: EMI = {res['value']:+.4f}"
             + (f"  [{ci['low']:+.4f}, {ci['high']:+.4f}] ({ci['confidence']:.0%} CI, B={ci['n_resamples']})"
                if ci else "")
             + f"\n  I(X;Ŷ) = {res['mi_response']:.4f}   I(X;Y) = {res['mi_reference']:.4f}   n = {res['n']}"
             + f"\n  estimator: {estimator_line(cfg)}" + saturation_note([res]))
    emit(out, args, human)
    return 0


def estimator_line(cfg) -> str:  # noqa: ANN001
    """Which MI estimator and divergence produced the numbers, for the human summary."""
    mi = f"loaded from {cfg.estimator_path}" if cfg.estimator_path else f"{cfg.estimator} fitted on the pooled pairs"
    return f"MI {mi}; bound JSD {cfg.divergence}; seed {cfg.seed}"


def saturation_note(emis: list[dict]) -> str:  # type: ignore[type-arg]
    """A warning line when an MI estimate sits at its estimator's ceiling (e.g. InfoNCE's ln n)."""
    hit = [e for e in emis if e.get("saturated")]
    if not hit:
        return ""
    return (f"\n  note: {len(hit)} of {len(emis)} EMI values have an MI at the estimator's ceiling "
            f"({hit[0]['ceiling']:.3f} nats at n = {hit[0]['n']}; InfoNCE's is ln n): the MI exceeds what n samples "
            "can certify, so compare those EMIs only between splits of equal size (docs/estimators.md)")
