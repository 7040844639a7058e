"""``mllmshift demo --out DIR``: the whole study, offline, on bundled photos with the baseline responder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mllmshift.vocab import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo", help="run a complete offline shift study on bundled photos (baseline responder, not an LLM)",
        description="Runs the full study offline: 12 real photos shipped with scikit-image/scikit-learn with "
        "questions and reference answers, a grid of image corruptions and question perturbations, answers from "
        "the built-in baseline responder (an ImageNet classifier + templates, not an LLM), and the same study "
        "with a blind responder that ignores its input, as a negative control. Writes the reports, results and "
        "the configs it ran to --out and prints the headline numbers and what they support.")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (default: %(default)s)")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B", help="bootstrap resamples (default: 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
    p.add_argument("--overwrite", action="store_true", help="replace the results of another run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mllmshift.cli.study import headline
    from mllmshift.study.demo import run_demo

    done = run_demo(args.out, progress=not args.quiet, n_resamples=args.bootstrap, seed=args.seed,
                    overwrite=args.overwrite, cache_dir=args.cache_dir)
    sys.stdout.write(headline(done.baseline.result, args.out) + "\n")
    sys.stdout.write(f"config: {(args.out / 'demo_config.yaml').resolve()} (rerun: mllmshift study "
                     f"{args.out / 'demo_config.yaml'} --out {args.out})\n")
    sys.stdout.write(f"negative control ({(args.out / 'blind' / 'report.html').resolve()}): EMI, baseline vs blind "
                     "responder, per split\n")
    for row in done.ranking["splits"]:
        sys.stdout.write(f"  {row['split']:<40} {row['emi_baseline']:+.3f}  {row['emi_blind']:+.3f}"
                         f"{'' if row['blind_below'] else '   <- blind not below'}\n")
    for line in done.verdict:
        sys.stdout.write(line + "\n")
    return EXIT_OK
