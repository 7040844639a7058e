"""``mllmshift estimators list`` and ``mllmshift estimators validate``: the estimator zoo and its ground-truth check.

``validate`` runs a grid of estimators × tasks with known MI / JSD × sample
sizes × seeds (preset ``ci``: about half a minute; ``full``: the committed table,
tens of minutes) and writes ``validation_runs.csv`` (resumable), ``validation.csv``,
``validation.md``, ``validation.png`` and ``validation.json`` to ``--out``.

``validate --real`` scores estimator configurations on real data instead (AlpacaEval against its judge,
LLaVA-Bench against the EMID bound, stability over seeds, sanity models, time; see
:mod:`mllmshift.validation.real`) and writes ``real.md``, ``real.csv``, ``real.json``, ``real.png`` and the
resumable per-run cache ``runs/`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from mllmshift.errors import DataError, MllmshiftError
from mllmshift.vocab import EXIT_OK, MIN_SAMPLES


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("estimators", help="list the MI / JSD estimators, or validate them on ground truth",
                       description="The estimator zoo: list registered estimators, or run the ground-truth "
                       "validation suite (tasks with known MI and JSD).")
    verbs = p.add_subparsers(dest="estimators_command", metavar="ACTION")
    ls = verbs.add_parser("list", help="registered MI estimators, JSD estimators and two-sample tests")
    ls.set_defaults(func=run_list)
    v = verbs.add_parser("validate", help="run the ground-truth validation suite",
                         description="Estimators × tasks with known MI/JSD × n × seeds; writes CSV, Markdown, plot.")
    v.add_argument("--preset", default="ci", choices=["ci", "full", "jsd-n"], help="grid (default: %(default)s)")
    r = v.add_argument_group("real data (--real)")
    r.add_argument("--real", action="store_true",
                   help="score configurations on AlpacaEval and LLaVA-Bench instead of ground-truth tasks")
    r.add_argument("--data", type=Path, default=None,
                   help="the shared data folder (default: $MLLMSHIFT_SHARED/data, else ../shared/data)")
    r.add_argument("--configs", help="comma-separated MI configurations (default: all; see --list-configs)")
    r.add_argument("--jsd", help="comma-separated JSD configurations of the bound (default: all)")
    r.add_argument("--datasets", default="alpacaeval,llava", help="comma-separated (default: %(default)s)")
    r.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default: ~/.cache/mllmshift)")
    r.add_argument("--list-configs", action="store_true", help="print the MI and JSD configurations and exit")
    v.add_argument("--out", type=Path, default=Path("validation"), help="output folder (default: %(default)s)")
    v.add_argument("--estimators", help="comma-separated estimator labels of the preset to keep")
    v.add_argument("--tasks", help="comma-separated task names of the preset to keep")
    v.add_argument("--n", help="comma-separated sample sizes (replace the preset's)")
    v.add_argument("--seeds", type=int,
                   help="number of seeds 0..k-1 (replace the preset's; with --real: ensembles per configuration, "
                        "default 5)")
    v.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    v.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=run_validate)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    from mllmshift.estimators import divergence_estimators, mi_estimators, two_sample_tests

    for title, reg in (("MI estimators", mi_estimators), ("JSD estimators", divergence_estimators),
                       ("two-sample tests", two_sample_tests)):
        print(f"{title}:")
        for e in reg.entries():
            named_bare = f" [named bare: {', '.join(f'{k}={v}' for k, v in e.defaults.items())}]" if e.defaults else ""
            print(f"  {e.name:<16} {e.description}{named_bare}")
    return EXIT_OK


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def run_validate(args: argparse.Namespace) -> int:
    if args.real or args.list_configs:
        return run_real(args)
    import torch

    from mllmshift.validation.presets import preset
    from mllmshift.validation.suite import run_suite

    if args.threads < 1:
        raise DataError(f"must be >= 1, got {args.threads}", field="--threads")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    grid = preset(args.preset)
    keep = _csv(args.estimators)
    if keep is not None:
        known = {e.label for e in grid.estimators}
        if set(keep) - known:
            raise MllmshiftError(f"unknown estimators {sorted(set(keep) - known)}; the preset has {sorted(known)}")
        grid = replace(grid, estimators=tuple(e for e in grid.estimators if e.label in keep))
    tasks = _csv(args.tasks)
    if tasks is not None:
        from mllmshift.validation.jsd_tasks import jsd_tasks
        from mllmshift.validation.mi_tasks import mi_tasks

        all_mi, all_jsd = mi_tasks(), jsd_tasks()
        unknown = set(tasks) - set(all_mi) - set(all_jsd)
        if unknown:
            raise MllmshiftError(f"unknown tasks {sorted(unknown)}; known: {sorted(set(all_mi) | set(all_jsd))}")
        grid = replace(grid, mi_tasks=tuple(t for t in tasks if t in all_mi),
                       jsd_tasks=tuple(t for t in tasks if t in all_jsd))
    if args.n:
        try:
            ns = tuple(int(v) for v in _csv(args.n) or [])
        except ValueError:
            raise DataError(f"must be comma-separated integers, got {args.n!r}", field="--n") from None
        if not ns or min(ns) < MIN_SAMPLES:
            raise DataError(f"sample sizes must be >= {MIN_SAMPLES} (below that no estimate is given), got {args.n!r}",
                            field="--n")
        grid = replace(grid, ns=ns)
    if args.seeds is not None:
        if args.seeds < 1:
            raise DataError(f"must be at least 1, got {args.seeds}", field="--seeds")
        grid = replace(grid, seeds=tuple(range(args.seeds)))
    summary = run_suite(grid, args.out, label=args.preset, progress=not args.quiet, make_plot=not args.no_plot)
    sys.stdout.write((args.out / "validation.md").read_text(encoding="utf-8") + "\n")
    failed = sum(r["failed"] for r in summary)
    sys.stdout.write(f"wrote {args.out}/validation.{{csv,md,json}}, validation_runs.csv"
                     f"{'' if args.no_plot else ', validation.png'}; {failed} failed runs\n")
    return EXIT_OK


def _shared_data() -> Path:
    root = os.environ.get("MLLMSHIFT_SHARED")
    return Path(root) / "data" if root else Path("..") / "shared" / "data"


def run_real(args: argparse.Namespace) -> int:
    import torch

    from mllmshift.validation.real.configs import JSD_CONFIGS, MI_CONFIGS, select
    from mllmshift.validation.real.suite import run_real_suite

    if args.list_configs:
        for title, known in (("MI configurations", MI_CONFIGS), ("JSD configurations", JSD_CONFIGS)):
            print(f"{title}:")
            for label, c in known.items():
                print(f"  {label:<16} {c.note}")
        return EXIT_OK
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        mi = select(_csv(args.configs), MI_CONFIGS, "MI configurations")
        jsd = select(_csv(args.jsd), JSD_CONFIGS, "JSD configurations")
    except ValueError as err:
        raise MllmshiftError(str(err)) from None
    seeds = 5 if args.seeds is None else args.seeds
    if seeds < 1:
        raise MllmshiftError("--seeds must be at least 1")
    datasets = _csv(args.datasets) or []
    try:
        run_real_suite(args.data or _shared_data(), args.out, mi, jsd, seeds=seeds, datasets=datasets,
                       cache_dir=args.cache_dir, threads=args.threads, make_plot=not args.no_plot)
    except ValueError as err:
        raise MllmshiftError(str(err)) from None
    sys.stdout.write((args.out / "real.md").read_text(encoding="utf-8"))
    sys.stdout.write(f"wrote {args.out}/real.{{md,csv,json}}{'' if args.no_plot else ', real.png'} and runs/\n")
    return EXIT_OK
