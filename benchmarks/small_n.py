"""Bias and variance of MI estimates at small n, held-out (cross-fitted) against in-sample: the committed table
``docs/estimators/small_n.md``.

    python benchmarks/small_n.py [--part tasks|real|both] [--reps 5] [--ns 30,90,300,1000] [--folds 3]
        [--data ../shared/data] [--json OUT.json] [--threads 1]

For each n, estimator (CLUB with the paper's options, SMILE with the default's; one fit each, K = 1, so the spread
is one fit's) and protocol (``in-sample``: fitted and scored on the same n pairs, the former pipeline;
``held-out``: cross-fitted over ``--folds`` folds, every pair scored by a fit that never saw it, the new default),
``--reps`` repetitions (a fresh sample and seed each, from ``derive_seed(0, "small-n", ...)``):

- **tasks**: ground-truth tasks of :mod:`mllmshift.validation.mi_tasks` (a 25 × 25 sparse Gaussian, I = 1.02
  nats; the same dims with X ⟂ Y, I = 0): mean estimate, bias, sd, RMSE and the share of estimates above ln n;
- **real**: LLaVA-Bench (../shared, llava-v1.5-13b, the ``llava_bench`` preset's ID split and its 34 synthetic
  shifts, USE embeddings through the cache): n = 30 and 90 pairs from the ID split (items drawn without
  replacement), 300 and 1,000 (split, item) pairs drawn from all 35 splits (held-out folds grouped by item);
  fitted like ``mllmshift emi`` (on the pooled (X, Ŷ) and (X, Y) pairs), I(X;Ŷ), I(X;Y) and EMI on the n
  pairs. No truth: the table gives the mean, the sd and the share of I(X;Ŷ) above ln n.

Prints a Markdown table (and writes every row to ``--json``); CPU time from ``resource.getrusage``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

CLUB_OPTIONS = {"hidden_size": 500, "max_epochs": 200}  # vocab.PAPER_MI_OPTIONS
SMILE_OPTIONS = {"max_steps": 300, "patience": 3}  # vocab.DEFAULT_MI_OPTIONS


def estimator(name: str, protocol: str, dims: tuple[int, int], seed: int, folds: int) -> Any:
    from mllmshift.estimators import mi_estimators
    from mllmshift.estimators.mi.crossfit import CrossFitMI

    opts = CLUB_OPTIONS if name == "club" else SMILE_OPTIONS
    if protocol == "in-sample":
        return mi_estimators.get(name)(*dims, seed=seed, **opts)
    return CrossFitMI(*dims, base=name, folds=folds, seed=seed, **opts)


def fit(est: Any, x: np.ndarray, y: np.ndarray, groups: list[str] | None) -> Any:
    from mllmshift.estimators.mi.crossfit import CrossFitMI

    return est.fit(x, y, groups=groups) if isinstance(est, CrossFitMI) else est.fit(x, y)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def task_rows(ns: list[int], reps: int, folds: int) -> list[dict[str, Any]]:
    from mllmshift.provenance import derive_seed
    from mllmshift.validation.mi_tasks import GaussianTask, mi_tasks, sparse_cov

    tasks = [mi_tasks()["normal-sparse-25x25"], GaussianTask("independent-25x25", 25, 25, np.eye(50))]
    rows = []
    for task in tasks:
        for n in ns:
            for name in ("club", "smile"):
                for protocol in ("in-sample", "held-out"):
                    vals, c0, t0 = [], cpu(), time.perf_counter()
                    for r in range(reps):
                        seed = derive_seed(0, "small-n", task.name, n, r)
                        x, y = task.sample(n, np.random.default_rng(seed))
                        est = fit(estimator(name, protocol, (task.x_dim, task.y_dim), seed, folds), x, y, None)
                        vals.append(est.mi(x, y))
                    v = np.asarray(vals)
                    rows.append({"part": "tasks", "data": task.name, "truth": task.true_mi, "n": n, "estimator": name,
                                 "protocol": protocol, "reps": reps, "mean": float(v.mean()),
                                 "bias": float(v.mean() - task.true_mi), "sd": float(v.std(ddof=1)),
                                 "rmse": float(np.sqrt(np.mean((v - task.true_mi) ** 2))),
                                 "above_ln_n": float(np.mean(v > math.log(n))), "values": v.tolist(),
                                 "cpu_s": cpu() - c0, "wall_s": time.perf_counter() - t0})
                    print(_line(rows[-1]), flush=True)
    return rows


def real_rows(ns: list[int], reps: int, folds: int, data: Path) -> list[dict[str, Any]]:
    from mllmshift.provenance import derive_seed
    from mllmshift.validation.real.data import embed_all, read_llava_synthetic

    id_split, scen = read_llava_synthetic(data)
    embedded = embed_all([id_split, *(s for _, s, _ in scen)], Path.home() / ".cache" / "mllmshift")
    table = [(k, i) for k, e in enumerate(embedded) for i in range(len(e))]
    rows = []
    for n in ns:
        for name in ("club", "smile"):
            for protocol in ("in-sample", "held-out"):
                out: dict[str, list[float]] = {"mi_response": [], "mi_reference": [], "emi": []}
                c0, t0 = cpu(), time.perf_counter()
                for r in range(reps):
                    seed = derive_seed(0, "small-n", "llava", n, r)
                    rng = np.random.default_rng(seed)
                    if n <= len(embedded[0]):
                        pick = [(0, int(i)) for i in rng.choice(len(embedded[0]), n, replace=False)]
                    else:
                        pick = [table[int(j)] for j in rng.choice(len(table), n, replace=False)]
                    x = np.stack([embedded[k].x[i] for k, i in pick]).astype(np.float32)
                    yh = np.stack([embedded[k].response[i] for k, i in pick]).astype(np.float32)
                    yr = np.stack([embedded[k].reference[i] for k, i in pick]).astype(np.float32)
                    ids = [str(embedded[k].ids[i]) for k, i in pick]
                    est = estimator(name, protocol, (x.shape[1], yh.shape[1]), seed, folds)
                    fit(est, np.concatenate([x, x]), np.concatenate([yh, yr]), ids + ids)
                    a, b = est.mi(x, yh), est.mi(x, yr)
                    out["mi_response"].append(a)
                    out["mi_reference"].append(b)
                    out["emi"].append(a - b)
                v = {k: np.asarray(vs) for k, vs in out.items()}
                rows.append({"part": "real", "data": "llava-bench", "truth": None, "n": n, "estimator": name,
                             "protocol": protocol, "reps": reps, "mean": float(v["mi_response"].mean()),
                             "sd": float(v["mi_response"].std(ddof=1)), "mean_ref": float(v["mi_reference"].mean()),
                             "emi_mean": float(v["emi"].mean()), "emi_sd": float(v["emi"].std(ddof=1)),
                             "above_ln_n": float(np.mean(v["mi_response"] > math.log(n))),
                             "values": {k: a.tolist() for k, a in v.items()}, "cpu_s": cpu() - c0,
                             "wall_s": time.perf_counter() - t0})
                print(_line(rows[-1]), flush=True)
    return rows


def _line(r: dict[str, Any]) -> str:
    f = lambda v: "—" if v is None else f"{v:+.3f}"  # noqa: E731
    if r["part"] == "tasks":
        return (f"| {r['data']} ({r['truth']:.2f}) | {r['n']} | {r['estimator']} | {r['protocol']} | {f(r['mean'])} | "
                f"{f(r['bias'])} | {r['sd']:.3f} | {r['rmse']:.3f} | {r['above_ln_n']:.0%} | {r['cpu_s']:.0f} |")
    return (f"| {r['data']} | {r['n']} | {r['estimator']} | {r['protocol']} | {f(r['mean'])} ± {r['sd']:.3f} | "
            f"{f(r['mean_ref'])} | {f(r['emi_mean'])} ± {r['emi_sd']:.3f} | {r['above_ln_n']:.0%} | {r['cpu_s']:.0f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("tasks", "real", "both"), default="both")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--ns", default="30,90,300,1000")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from _checkout import use_checkout

    use_checkout(args.threads)
    ns = [int(v) for v in args.ns.split(",")]
    rows: list[dict[str, Any]] = []
    if args.part in ("tasks", "both"):
        print("| task (true I) | n | estimator | protocol | mean | bias | sd | RMSE | > ln n | CPU s |\n"
              "|---|---|---|---|---|---|---|---|---|---|", flush=True)
        rows += task_rows(ns, args.reps, args.folds)
    if args.part in ("real", "both"):
        print("| data | n | estimator | protocol | I(X;Ŷ) mean ± sd | I(X;Y) mean | EMI mean ± sd | I(X;Ŷ) > ln n "
              "| CPU s |\n|---|---|---|---|---|---|---|---|---|", flush=True)
        rows += real_rows(ns, args.reps, args.folds, args.data)
    if args.json is not None:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
