"""Full estimator validation table: every estimator × ground-truth task × n ∈ {100, 1,000, 10,000} × 5 seeds.

    python benchmarks/estimators.py [--out docs/estimators] [--preset full] [--threads 1]
    python benchmarks/estimators.py --preset jsd-n --out docs/estimators/jsd_n   # JSD bias against n

Resumable (rows already in ``validation_runs.csv`` are skipped). Writes the
runs CSV, the summary CSV, ``validation.md`` (printed too), ``validation.png``
and ``validation.json`` (grid, truths, versions). The grid and where it is
shrunk for slow estimators are in :mod:`mllmshift.validation.presets`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _checkout import use_checkout  # benchmarks/_checkout.py


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "estimators")
    p.add_argument("--preset", default="full", choices=["full", "ci", "jsd-n"],
                   help="full: the committed table; jsd-n: JSD bias against n (docs/estimators/jsd_n)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads (default: 1)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    use_checkout(args.threads)

    from mllmshift.validation.presets import preset
    from mllmshift.validation.suite import run_suite

    grid = preset(args.preset)
    start = time.perf_counter()
    run_suite(grid, args.out, label=args.preset, progress=not args.quiet)
    print((args.out / "validation.md").read_text(encoding="utf-8"))
    print(f"{grid.n_runs()} runs in the grid; this invocation took {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
