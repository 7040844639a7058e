"""``mllmshift demo --out DIR``: the whole study, offline, on bundled photos with the baseline responder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo", help="run a complete offline shift study on bundled photos (baseline responder, not an LLM)",
        description="Runs the full study offline: 12 real photos shipped with scikit-image/scikit-learn with "
        "questions and reference answers, a grid of image corruptions and question perturbations, answers from "
        "the built-in baseline responder (an ImageNet classifier + templates, not an LLM). Writes the report, "
        "results and the config it ran to --out and prints the headline numbers.")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (default: %(default)s)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B", help="bootstrap resamples (default: 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace the results of another run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mllmshift.cli.study import headline
    from mllmshift.study.demo import run_demo

    done = run_demo(args.out, progress=not args.quiet, n_resamples=args.bootstrap, seed=args.seed,
                    overwrite=args.overwrite)
    sys.stdout.write(headline(done.result, args.out) + "\n")
    sys.stdout.write(f"config: {(args.out / 'demo_config.yaml').resolve()} (rerun: mllmshift study "
                     f"{args.out / 'demo_config.yaml'} --out {args.out})\n")
    return 0
