"""CPU seconds of fitting the default MI ensemble (and the paper's CLUB) where ``mllmshift emi`` fits it.

    python benchmarks/default_fit.py [--data ../shared/data] [--threads 1]

On the 90-sample LLaVA-Bench ID split (``llava_bench_coco``, LLaVA-1.5-13B, captions for the images: 180 pooled
pairs, what ``mllmshift emi`` fits on) and on it plus one scenario (360 pairs, what ``mllmshift emid`` with one
shifted split fits on): process CPU seconds of the fit (all members), of the estimates with 1,000 bootstrap
resamples, and the steps each member ran. Embeddings come from the cache (``~/.cache/mllmshift``; the first run
embeds them). Part of issue #9 item 7's budget (``mllmshift emi`` with defaults ≤ 10 s cold on 2 idle cores;
``benchmarks/default_path.py`` times the whole command). Measure on an idle machine; the load is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from _checkout import use_checkout  # benchmarks/_checkout.py

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    use_checkout(args.threads)

    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.evaluation.embedding import default_cache_dir
    from mllmshift.evaluation.estimation import fit_estimators
    from mllmshift.metrics import bootstrap_emi, bootstrap_emid, emi_of, emid
    from mllmshift.validation.real.data import embed_all, read_llava_synthetic

    id_split, scenarios = read_llava_synthetic(args.data)
    e = embed_all([id_split, scenarios[7][1]], default_cache_dir(), fusion="mean", threads=args.threads)
    print(f"load average {os.getloadavg()[0]:.2f}, {args.threads} thread(s), scenario {e[1].name}")
    print("| config | pairs | fit CPU s | estimates + 1,000 resamples CPU s | steps or epochs per member |")
    print("|---|---:|---:|---:|---|")
    configs = (("default", EvalConfig(image_encoder=None)), ("--paper", EvalConfig.paper(image_encoder=None)),
               ("former default", EvalConfig(image_encoder=None, estimator="infonce", n_estimators=1, divergence="auto")))
    for label, cfg in configs:
        for pool in ([e[0]], e):
            c0 = time.process_time()
            members = fit_estimators(pool, cfg).members
            c1 = time.process_time()
            if len(pool) == 1:
                emi_of(pool[0], members)
                bootstrap_emi(pool[0].x, pool[0].response, pool[0].reference, members, 1000, 0)
            else:
                emid(pool[0], pool[1], members)
                bootstrap_emid(pool[0], pool[1], members, 1000, 0)
            c2 = time.process_time()
            runs = [m.fit_summary().get("steps_run", m.fit_summary().get("epochs_run")) for m in members]
            print(f"| {label} ({cfg.n_estimators} × {cfg.estimator.name}) | {2 * sum(len(s) for s in pool)} | "
                  f"{c1 - c0:.2f} | {c2 - c1:.2f} | {runs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
