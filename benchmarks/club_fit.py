"""Where the CLUB fit of ``mllmshift study --preset llava_bench`` spends its CPU time, before and after the
closed-form training step (issue #23 item 3).

Usage::

    python benchmarks/club_fit.py                      # the preset's pooled pairs (USE, from the cache)
    python benchmarks/club_fit.py --synthetic          # random pairs of the same shape (7,380 × 512 / 512)
    python benchmarks/club_fit.py --threads 2 --profile-epochs 5
    python benchmarks/club_fit.py --crossfit --threads 2   # the preset's 3 folds: in sequence vs on workers

Two loops fit the same CLUB (the preset's options: hidden 500, ≤ 200 epochs, patience 10, seed 0) on the same
pairs, each in this process one after the other:

- **autograd** (the loop as of 98ea709, kept here as the reference): a gather per mini-batch, the loss
  through autograd, :class:`~mllmshift.estimators._adam.Adam` over the eight parameter tensors;
- **closed form** (:meth:`CLUB.fit` now, :mod:`mllmshift.estimators.mi.club_training`).

Table 1: process CPU seconds and wall seconds of the whole fit, epochs run, the kept epoch, its held-out NLL
and the fitted CLUB estimate on all pairs (the two loops agree to float32 rounding step by step; over ~100
epochs of Adam the rounding differences grow, so the last columns say how far apart they end).
Table 2: CPU seconds per epoch of each loop over ``--profile-epochs`` epochs, split by kind of operator (matrix
products ``mm``/``addmm``, element-wise, the optimiser's kernels, indexing/copies, other operators) in the shares
a ``torch.profiler`` run gives, beside the epoch's matrix products replayed alone: the arithmetic floor.
Table 3 (``--crossfit``, on the preset's pairs): the preset's fit itself, a CLUB cross-fitted over 3 folds of the
sample ids, inside a run of ``--threads`` threads, with the folds one after the other on that many torch threads
(as of f9990da) and on that many worker threads of one torch thread each (:mod:`mllmshift.workers`): CPU and wall
seconds, epochs per fold, and the estimate on all pairs (equal to float32 rounding; bit for bit between workers
and one thread).
Timings on a shared machine: the 1-minute load average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from _checkout import use_checkout  # benchmarks/_checkout.py

ROOT = Path(__file__).resolve().parents[1]
PRESET = {"hidden_size": 500, "max_epochs": 200, "patience": 10}
MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul"}
ADAM = {"aten::lerp_", "aten::addcdiv_", "aten::addcmul_", "aten::sqrt", "aten::_fused_adam_"}
INDEX = {"aten::index", "aten::copy_", "aten::cat", "aten::clone", "aten::index_select", "aten::empty_like"}
ELEMENTWISE = {"aten::tanh", "aten::tanh_", "aten::tanh_backward", "aten::exp", "aten::mul", "aten::mul_",
               "aten::div", "aten::div_", "aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::pow",
               "aten::neg", "aten::neg_", "aten::sum", "aten::mean", "aten::fill_", "aten::zero_", "aten::where"}


def preset_pairs(data: Path, threads: int, groups: bool = False) -> Any:
    """The pooled (X, Ŷ) and (X, Y) pairs the preset's estimator is fitted on, embedded through the cache (and,
    with ``groups``, their sample ids: ``((x, y), ids)``)."""
    from mllmshift.estimators.fitting import pooled_groups, pooled_pairs
    from mllmshift.evaluation.embedding import Encoders, default_cache_dir, embed_splits, open_cache
    from mllmshift.evaluation.estimation import estimator_pool
    from mllmshift.study.presets.llava_bench import build, default_config

    cfg = default_config(data).eval
    plan = build(data)
    splits = [plan.id_split, *(s.split for s in plan.scenarios)]
    embedded = embed_splits(splits, Encoders(cfg), open_cache(default_cache_dir()))
    pool = estimator_pool(embedded)
    return (pooled_pairs(pool), pooled_groups(pool)) if groups else pooled_pairs(pool)


def synthetic_pairs(n: int, d: int, seed: int) -> tuple[Any, Any]:
    """Unit vectors y = normalise(tanh(3 x W) + 0.3 ε): dependent pairs of the preset's shape."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    y = np.tanh(3 * x @ w) + 0.3 * rng.standard_normal((n, d)).astype(np.float32)
    return x, y / np.linalg.norm(y, axis=1, keepdims=True)


def reference_fit(est: Any, x: Any, y: Any) -> Any:
    """The autograd loop the closed-form step replaced (kept once, in the package, for the tests and this table)."""
    from mllmshift.estimators.mi.club_reference import autograd_fit

    return autograd_fit(est, x, y)


def fit(loop: str, x: Any, y: Any, **options: Any) -> Any:
    from mllmshift.estimators.mi.club import CLUB

    est = CLUB(x.shape[1], y.shape[1], seed=0, **{**PRESET, **options})
    return reference_fit(est, x, y) if loop == "autograd" else est.fit(x, y)


def profile(loop: str, x: Any, y: Any, epochs: int) -> dict[str, float]:
    """CPU seconds per epoch over ``epochs`` epochs (no early stop), split by kind of operator in the shares of
    a ``torch.profiler`` run of the same epochs (its times are wall-clock per operator, so on a loaded machine
    only their shares mean something; they are scaled to the process CPU time measured without the profiler)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    t0 = time.process_time()
    fit(loop, x, y, max_epochs=epochs, patience=epochs)
    per_epoch = (time.process_time() - t0) / epochs
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fit(loop, x, y, max_epochs=epochs, patience=epochs)
    kinds = dict.fromkeys(["matrix products", "element-wise", "optimiser", "indexing/copies", "other operators"], 0.0)
    for ev in prof.key_averages():
        if ev.key.startswith(("autograd::", "torch::autograd", "ProfilerStep")) or not ev.key.startswith("aten::"):
            continue
        kind = ("matrix products" if ev.key in MATMUL else "optimiser" if ev.key in ADAM
                else "indexing/copies" if ev.key in INDEX else "element-wise" if ev.key in ELEMENTWISE
                else "other operators")
        kinds[kind] += ev.self_cpu_time_total
    total = sum(kinds.values()) or 1.0
    out = {k: per_epoch * v / total for k, v in kinds.items()}
    out["total"] = per_epoch
    return out


def matmul_floor(x: Any, y: Any, batch: int = 256, hidden: int = 500, val_fraction: float = 0.2) -> float:
    """CPU seconds of one epoch's matrix products alone (the fit's arithmetic: every training step's forward and
    backward products and the held-out forward pass, replayed with the same shapes, nothing else)."""
    import torch

    n_val = int(round(val_fraction * len(x)))
    xt, yt = torch.as_tensor(x[n_val:]), torch.as_tensor(y[n_val:])
    k, dx, dy = hidden // 2, x.shape[1], y.shape[1]
    w1, w2 = torch.randn(2 * k, dx) * 0.01, torch.randn(dy, k) * 0.01
    gw1, gw2 = torch.empty(2 * k, dx), torch.empty(dy, k)
    xv = torch.as_tensor(x[:n_val])
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for s in range(0, len(xt), batch):
            xb, yb = xt[s : s + batch], yt[s : s + batch]
            h = xb @ w1.t()
            for half in (h[:, :k], h[:, k:]):
                o = half @ w2.t()
                torch.mm(o.t(), half, out=gw2)
                _ = o @ w2
            torch.mm(h.t(), xb, out=gw1)
        hv = xv @ w1.t()
        _ = hv[:, :k] @ w2.t(), hv[:, k:] @ w2.t()
        best = min(best, time.process_time() - t0)
    return best


def crossfit_rows(x: Any, y: Any, groups: Any, threads: int, max_epochs: int) -> list[tuple[Any, ...]]:
    """Table 3: the preset's cross-fitted CLUB (3 folds, seed 0) with its folds one after the other on ``threads``
    torch threads, then on ``threads`` workers; per row (how, CPU s, wall s, load avg, epochs per fold, estimate)."""
    import mllmshift.workers as workers
    from mllmshift.estimators.mi.crossfit import CrossFitMI
    from mllmshift.threads import thread_limits

    rows = []
    for how in ("folds one after the other", "folds on workers"):
        est = CrossFitMI(x.shape[1], y.shape[1], base="club", folds=3, seed=0,
                         **{**PRESET, "max_epochs": max_epochs})
        sequential = how.startswith("folds one")
        saved = workers.current_threads
        if sequential:
            workers.current_threads = lambda: 1  # type: ignore[assignment]  # run_tasks: one after the other
        load, c0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
        try:
            with thread_limits(threads):
                est.fit(x, y, groups=list(groups))
        finally:
            workers.current_threads = saved  # type: ignore[assignment]
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        rows.append((how, cpu, wall, load, [m.history["epochs_run"] for m in est.members], est.mi(x, y)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--synthetic", action="store_true", help="random pairs of the preset's shape instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile-epochs", type=int, default=5, help="epochs of each loop under the profiler")
    ap.add_argument("--loops", nargs="+", default=["autograd", "closed form"], choices=["autograd", "closed form"])
    ap.add_argument("--crossfit", action="store_true",
                    help="table 3 only: the preset's 3-fold cross-fitted fit, folds in sequence vs on workers")
    ap.add_argument("--max-epochs", type=int, default=PRESET["max_epochs"], help="table 3's epoch budget per fold")
    args = ap.parse_args(argv)
    use_checkout(args.threads)
    import numpy as np

    from mllmshift.estimators.mi.club import CLUB  # noqa: F401  (imported before timing)

    if args.crossfit:
        if args.synthetic:
            ap.error("--crossfit fits the preset's pairs (its folds are of sample ids)")
        (x, y), groups = preset_pairs(args.data, args.threads, groups=True)
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
        print(f"pairs: {len(x):,} × ({x.shape[1]}, {y.shape[1]}) (preset), 3 folds of {len(set(groups))} sample ids; "
              f"threads {args.threads}; OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}\n")
        print("| the preset's CLUB fit (3 folds) | CPU (s) | wall (s) | load avg | epochs per fold | estimate (nats) |")
        print("|---|---:|---:|---:|---|---:|")
        for how, cpu, wall, load, eps, mi in crossfit_rows(x, y, groups, args.threads, args.max_epochs):
            print(f"| {how} | {cpu:.1f} | {wall:.1f} | {load:.1f} | {', '.join(map(str, eps))} | {mi:.6f} |")
        return 0
    x, y = synthetic_pairs(7380, 512, 0) if args.synthetic else preset_pairs(args.data, args.threads)
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    print(f"pairs: {len(x):,} × ({x.shape[1]}, {y.shape[1]}) ({'synthetic' if args.synthetic else 'preset'}); "
          f"threads {args.threads}; load average {os.getloadavg()[0]:.1f} at start")
    rows, mis = [], {}
    for loop in args.loops:
        load = os.getloadavg()[0]
        c0, t0 = time.process_time(), time.perf_counter()
        est = fit(loop, x, y)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        mis[loop] = est.mi(x, y)
        h = est.history
        rows.append((loop, cpu, wall, load, h["epochs_run"], h["best_epoch"] + 1, min(h["val_nll"]), mis[loop]))
    print("\n| loop | CPU (s) | wall (s) | load avg | epochs run | kept epoch | CPU s / epoch | held-out NLL | CLUB estimate (nats) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for loop, cpu, wall, load, ep, best, nll, mi in rows:
        print(f"| {loop} | {cpu:.1f} | {wall:.1f} | {load:.1f} | {ep} | {best} | {cpu / ep:.3f} | {nll:.4f} | {mi:.5f} |")
    if len(mis) == 2:
        a, b = mis.values()
        print(f"\nestimates differ by {abs(a - b):.2e} nats ({abs(a - b) / abs(a):.2e} relative)")
    if args.profile_epochs > 0:
        prof = {loop: profile(loop, x, y, args.profile_epochs) for loop in args.loops}
        floor = matmul_floor(x, y)
        print(f"\nCPU seconds per epoch over {args.profile_epochs} epochs, by kind of operator (shares from torch.profiler, "
              f"scaled to the process CPU time; load average {os.getloadavg()[0]:.1f})\n")
        print("| kind | " + " | ".join(args.loops) + " |")
        print("|---|" + "---:|" * len(args.loops))
        for kind in next(iter(prof.values())):
            cells = []
            for loop in args.loops:
                v, t = prof[loop][kind], prof[loop]["total"]
                cells.append(f"{v:.3f}" + ("" if kind == "total" else f" ({v / t:.0%})"))
            print(f"| {kind} | " + " | ".join(cells) + " |")
        print(f"| the epoch's matrix products replayed alone (the arithmetic floor) | "
              + " | ".join(f"{floor:.3f} ({floor / prof[loop]['total']:.0%})" for loop in args.loops) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
