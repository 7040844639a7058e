"""``mllmshift emi DATA``: effective mutual information of one split."""

from __future__ import annotations

import argparse
from pathlib import Path

from mllmshift.cli._common import add_pipeline_args, add_reader_args, default_cache_dir, emit, read_args_split


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("emi", help="EMI = I(X;Ŷ) − I(X;Y) of one split of responses",
                       description="Effective mutual information of a split: how much the model's responses say "
                       "about the inputs, relative to the reference responses (0 = as informative as the reference).")
    p.add_argument("data", help="responses (canonical JSONL, LLaVA answer file, Parquet or saved HF dataset)")
    add_reader_args(p)
    add_pipeline_args(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):  # noqa: ANN201
    from mllmshift.evaluate import EvalConfig

    return EvalConfig(text_encoder=args.text_encoder, image_encoder=args.image_encoder, fusion=args.fusion,
                      estimator_path=str(args.estimator) if args.estimator else None, hidden_size=args.hidden_size,
                      max_epochs=args.max_epochs, seed=args.seed, bootstrap=args.bootstrap,
                      confidence=args.confidence, entropy_scale=getattr(args, "entropy_scale", None))


def cache_from_args(args: argparse.Namespace) -> Path | None:
    return None if args.no_cache else (args.cache_dir or default_cache_dir())


def run(args: argparse.Namespace) -> int:
    from mllmshift.evaluate import embed_splits, emi_report, get_estimator, run_metadata

    cfg = config_from_args(args)
    split = read_args_split(args.data, args)
    (emb,) = embed_splits([split], cfg, cache_from_args(args), progress=not args.quiet)
    est = get_estimator([emb], cfg, progress=not args.quiet)
    if args.save_estimator and hasattr(est, "save"):
        est.save(args.save_estimator)
    res = emi_report(emb, est, cfg)
    out = {"split": split.name, "n": len(split), "emi": res, **run_metadata(cfg, est, [emb])}
    ci = res.get("ci")
    human = (f"{split.name}: EMI = {res['value']:+.4f}"
             + (f"  [{ci['low']:+.4f}, {ci['high']:+.4f}] ({ci['confidence']:.0%} CI, B={ci['n_resamples']})"
                if ci else "")
             + f"\n  I(X;Ŷ) = {res['mi_response']:.4f}   I(X;Y) = {res['mi_reference']:.4f}   n = {res['n']}")
    emit(out, args, human)
    return 0
