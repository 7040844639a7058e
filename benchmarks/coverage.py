"""Coverage of nominal-95 % EMID intervals on a ground-truth task (docs/estimators/coverage/).

    python benchmarks/coverage.py [--out docs/estimators/coverage] [--repetitions 40] [--members 5]
        [--estimators smile-brief,smile-default] [--dim 4] [--n 1000] [--threads 1]

For each estimator: ``repetitions`` fresh data sets of :class:`~mllmshift.validation.coverage.EMIDTask`
(two splits of ``n`` Gaussian pairs in ``dim`` dimensions, EMID known in closed form; by default the regime of
tests/validation/test_coverage.py, where a critic's seed matters more than the data), K = ``members`` estimators
fitted on each by the evaluation pipeline, and the intervals of :data:`~mllmshift.validation.coverage.METHODS` (the
fixed-estimator bootstrap and the seed ensemble, both by :func:`mllmshift.metrics.bootstrap_emid`). Writes
``coverage.json`` (every interval, the task, seeds, versions), ``coverage.md`` and ``coverage.png``;
one estimator's results are cached in ``coverage-<estimator>.json`` so a rerun skips it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from _checkout import use_checkout  # benchmarks/_checkout.py

ROOT = Path(__file__).resolve().parents[1]
#: estimator → (registry name, options)
ESTIMATORS: dict[str, tuple[str, dict[str, Any]]] = {
    # the test's briefly trained SMILE (its weighted resample never counts a pair as its own negative)
    "smile-brief": ("smile", {"hidden_size": 32, "embed_dim": 16, "max_steps": 20, "eval_every": 10,
                              "patience": 100, "lr": 1e-2}),
    "smile-default": ("smile", {"max_steps": 300, "patience": 3}),  # the package default's member
    "infonce": ("infonce", {}),
    "club": ("club", {"hidden_size": 500, "max_epochs": 200, "patience": 10}),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "estimators" / "coverage")
    p.add_argument("--repetitions", type=int, default=40)
    p.add_argument("--dim", type=int, default=4)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--resamples", type=int, default=500)
    p.add_argument("--estimators", default="smile-brief,smile-default")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    use_checkout(args.threads)

    from mllmshift.io.atomic import atomic_write_text
    from mllmshift.provenance import environment
    from mllmshift.validation.coverage import EMIDTask, coverage_study

    task = EMIDTask(dim=args.dim, n=args.n, rho_id=0.5, rho_shift=0.2, rho_ref=0.3)
    results: dict[str, Any] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for label in [e.strip() for e in args.estimators.split(",") if e.strip()]:
        name, options = ESTIMATORS[label]
        cache = args.out / f"coverage-{label}.json"
        methods = ("fixed", "ensemble")
        spec = {"name": name, "options": options, "repetitions": args.repetitions, "members": args.members,
                "resamples": args.resamples, "task": task.__dict__, "methods": list(methods)}
        if cache.is_file() and json.loads(cache.read_text())["spec"] == spec:
            results[label] = json.loads(cache.read_text())
            continue
        start = time.perf_counter()
        res = coverage_study(task, name, options, repetitions=args.repetitions, members=args.members, methods=methods,
                             n_resamples=args.resamples,
                             progress=lambda r, n, lab=label: print(f"{lab}: repetition {r}/{n}", file=sys.stderr))
        res["spec"], res["seconds"] = spec, time.perf_counter() - start
        atomic_write_text(cache, json.dumps(res, indent=1) + "\n")
        results[label] = res
    atomic_write_text(args.out / "coverage.json", json.dumps({"results": results, **environment()}, indent=1) + "\n")
    lines = [f"# Coverage of nominal-95 % EMID intervals ({task.n} pairs per split, d = {task.dim}, "
             f"true EMID = {task.true_emid:.3f})", "",
             "| estimator | interval | coverage of the truth | coverage of E[ÊMID] | mean width | sd of the point "
             "over repetitions | mean point |", "|---|---|---:|---:|---:|---:|---:|"]
    for label, res in results.items():
        for method, s in res["summary"].items():
            lines.append(f"| {label} | {method} | {s['coverage_truth']:.2f} | {s['coverage_population']:.2f} | "
                         f"{s['mean_width']:.3f} | {s['sd_of_point']:.3f} | {s['mean_point']:.3f} |")
    lines += ["", f"E[ÊMID] per estimator (mean of every member over the repetitions): " + ", ".join(
        f"{lab} {res['population_value']:.3f}" for lab, res in results.items()),
        f"{args.repetitions} repetitions × {args.members} members, {args.resamples} bootstrap resamples; "
        "config and every interval in coverage.json."]
    atomic_write_text(args.out / "coverage.md", "\n".join(lines) + "\n")
    plot(results, task.true_emid, args.out / "coverage.png")
    print("\n".join(lines))
    return 0


def plot(results: dict[str, Any], truth: float, path: Path) -> None:
    """One panel per estimator: the first 40 repetitions' intervals of each method, truth and E[ÊMID] marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.6), squeeze=False)
    for ax, (label, res) in zip(axes[0], results.items()):
        methods = res["methods"]
        reps = res["repetitions_detail"][:40]
        for j, m in enumerate(methods):
            for r, rep in enumerate(reps):
                iv = rep[m]
                y = r + (j - (len(methods) - 1) / 2) * 0.18
                ok = iv["low"] <= res["population_value"] <= iv["high"]
                ax.plot([iv["low"], iv["high"]], [y, y], color=f"C{j}", lw=1.2, alpha=0.9 if ok else 0.35)
        ax.axvline(truth, color="k", lw=1, label="true EMID")
        ax.axvline(res["population_value"], color="k", lw=1, ls="--", label="E[ÊMID]")
        cov = ", ".join(f"{m} {res['summary'][m]['coverage_population']:.2f}" for m in methods)
        ax.set_title(f"{label}\ncoverage of E[ÊMID]: {cov}", fontsize=8)
        ax.set_xlabel("EMID (nats)")
        ax.set_yticks([])
        for j, m in enumerate(methods):
            ax.plot([], [], color=f"C{j}", label=m)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
