"""Real-data validation table of the estimator configurations (AlpacaEval, LLaVA-Bench): the committed table.

    python benchmarks/estimators_real.py [--data ../shared/data] [--out docs/estimators/real] [--seeds 5]
        [--configs club,infonce,...] [--jsd rjsd,...] [--datasets alpacaeval,llava] [--threads 1]
    python benchmarks/estimators_real.py --rule [--configs ...]     # the decision rule's table (issue #19 item 6)
    python benchmarks/estimators_real.py --rule --seeds 1 --cached-only   # that table from the cache, computing nothing
    python benchmarks/estimators_real.py --rule --seeds 1 --cached-only --fill-from OLD/real.json
        # ... with the scores the cache lacks taken from a previous table where the cached units reproduce it

``--rule`` runs the rule's candidates (``configs.RULE_MI``, JSD ``rjsd,rjsd-debiased``) on ``alpacaeval48,llava``
with 2 ensembles into ``docs/estimators/real/dev48`` (``rule.md`` beside ``real.md``); any of those can still be
given explicitly, e.g. ``--configs smile-fast-x3`` to run one candidate at a time (cheapest first) and a last
run with every candidate to write the combined table from the cache.

The same as ``mllmshift estimators validate --real`` with the committed table's defaults. Resumable: every
(data set, estimator member, seed) and (JSD estimator, seed) is cached under ``OUT/runs/``; run it as two
processes (``--datasets alpacaeval`` and ``--datasets llava``) on two cores, then once more with both to
write the combined table from the cache. Needs ../shared (or ``$MLLMSHIFT_SHARED``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from mllmshift.cli.main import main as cli

    args = list(sys.argv[1:] if argv is None else argv)
    if "--rule" in args:
        from mllmshift.validation.real.configs import RULE_JSD, RULE_MI

        args.remove("--rule")
        for flag, value in (("--configs", ",".join(RULE_MI)), ("--jsd", ",".join(RULE_JSD)),
                            ("--datasets", "alpacaeval48,llava"), ("--seeds", "2"),
                            ("--out", str(ROOT / "docs" / "estimators" / "real" / "dev48"))):
            if flag not in args:
                args += [flag, value]
    if "--out" not in args:
        args += ["--out", str(ROOT / "docs" / "estimators" / "real")]
    if "--cached-only" in args:
        args.remove("--cached-only")
        return _cached_only(args)
    return cli(["estimators", "validate", "--real", *args])


def _cached_only(args: list[str]) -> int:
    """Write the table from the cached runs only (compute nothing): ``--cached-only`` with the suite's flags."""
    import argparse

    from mllmshift.validation.real.configs import JSD_CONFIGS, MI_CONFIGS, select
    from mllmshift.validation.real.suite import run_real_suite

    p = argparse.ArgumentParser()
    for flag in ("--configs", "--jsd", "--datasets", "--out", "--data"):
        p.add_argument(flag)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--fill-from", help="a previous real.json whose scores fill what the cache lacks, for the "
                                       "configurations whose cached units reproduce it (validation/real/fill.py)")
    a = p.parse_args(args)
    import json

    previous = json.loads(Path(a.fill_from).read_text(encoding="utf-8")) if a.fill_from else None
    split = (lambda v: v.split(",") if v else None)
    run_real_suite(a.data or str(ROOT.parent / "shared" / "data"), a.out, select(split(a.configs), MI_CONFIGS, "MI"),
                   select(split(a.jsd), JSD_CONFIGS, "JSD"), seeds=a.seeds,
                   datasets=split(a.datasets) or ["alpacaeval48", "llava"], make_plot=not a.no_plot, cached_only=True,
                   previous=previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
