"""Where the CLUB fit of ``mllmshift study --preset llava_bench`` spends its CPU time, before and after the
closed-form training step (issue #23 item 3).

Usage::

    python benchmarks/club_fit.py                      # the preset's pooled pairs (USE, from the cache)
    python benchmarks/club_fit.py --synthetic          # random pairs of the same shape (7,380 × 512 / 512)
    python benchmarks/club_fit.py --threads 2 --profile-epochs 5

Two loops fit the same CLUB (the preset's options: hidden 500, ≤ 200 epochs, patience 10, seed 0) on the same
pairs, each in this process one after the other:

- **autograd** (the loop as of 98ea709, kept here as the reference): a gather per mini-batch, the loss
  through autograd, :class:`~mllmshift.estimators._adam.Adam` over the eight parameter tensors;
- **closed form** (:meth:`CLUB.fit` now, :mod:`mllmshift.estimators.mi.club_training`).

Table 1: process CPU seconds and wall seconds of the whole fit, epochs run, the kept epoch, its held-out NLL
and the fitted CLUB estimate on all pairs (the two loops agree to float32 rounding step by step; over ~100
epochs of Adam the rounding differences grow, so the last columns say how far apart they end).
Table 2: a ``torch.profiler`` run of ``--profile-epochs`` epochs of each loop, self CPU time by kind of operator:
matrix products (``mm``, ``addmm``), element-wise, the optimiser's kernels, indexing/copies, the rest.
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


def preset_pairs(data: Path, threads: int) -> tuple[Any, Any]:
    """The pooled (X, Ŷ) and (X, Y) pairs the preset's estimator is fitted on, embedded through the cache."""
    from mllmshift.estimators.fitting import pooled_pairs
    from mllmshift.evaluation.embedding import Encoders, default_cache_dir, embed_splits, open_cache
    from mllmshift.evaluation.estimation import estimator_pool
    from mllmshift.study.presets.llava_bench import build, default_config

    cfg = default_config(data).eval
    plan = build(data)
    splits = [plan.id_split, *(s.split for s in plan.scenarios)]
    embedded = embed_splits(splits, Encoders(cfg), open_cache(default_cache_dir()))
    return pooled_pairs(estimator_pool(embedded))


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
    """CLUB.fit as of 98ea709: autograd, a gather per batch, Adam over the eight parameter tensors."""
    import torch

    from mllmshift.estimators._adam import Adam
    from mllmshift.estimators._batches import Rows
    from mllmshift.estimators._training import holdout_split, train_early_stopping
    from mllmshift.estimators.base import check_pairs

    xa, ya = check_pairs(x, y)
    cfg = est.cfg
    val_idx, tr_idx = holdout_split(len(xa), cfg.val_fraction, cfg.seed)
    train, val = Rows([xa, ya], tr_idx, est.device), Rows([xa, ya], val_idx, est.device)
    opt = Adam(est.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    tgen = torch.Generator().manual_seed(cfg.seed)

    def epoch() -> float:
        perm = torch.randperm(len(train), generator=tgen)
        total = 0.0
        for start in range(0, len(train), cfg.batch_size):
            xb, yb = train.batch(perm[start : start + cfg.batch_size])
            loss = est._nll(xb, yb).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(xb)
        return total / len(train)

    def held_out() -> float:
        with torch.no_grad():
            return sum(float(est._nll(xb, yb).sum(dtype=torch.float64))
                       for xb, yb in val.chunks(cfg.chunk_size)) / len(val)

    log = train_early_stopping(est.net, epoch, held_out if len(val_idx) else None, max_steps=cfg.max_epochs,
                               patience=cfg.patience, higher_is_better=False)
    est.history = {"val_nll": log.val_curve, "best_epoch": log.best_step - 1, "epochs_run": log.steps_run}
    return est


def fit(loop: str, x: Any, y: Any, **options: Any) -> Any:
    from mllmshift.estimators.mi.club import CLUB

    est = CLUB(x.shape[1], y.shape[1], seed=0, **{**PRESET, **options})
    return reference_fit(est, x, y) if loop == "autograd" else est.fit(x, y)


def profile(loop: str, x: Any, y: Any, epochs: int) -> dict[str, float]:
    """Self CPU seconds by kind of operator over ``epochs`` epochs (no early stop: patience = epochs)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.process_time()
        fit(loop, x, y, max_epochs=epochs, patience=epochs)
        total = time.process_time() - t0
    kinds = {"matrix products": 0.0, "element-wise": 0.0, "optimiser": 0.0, "indexing/copies": 0.0}
    for ev in prof.key_averages():
        kind = ("matrix products" if ev.key in MATMUL else "optimiser" if ev.key in ADAM
                else "indexing/copies" if ev.key in INDEX else "element-wise" if ev.key in ELEMENTWISE else None)
        if kind is not None:
            kinds[kind] += ev.self_cpu_time_total / 1e6
    kinds["rest (Python, autograd, other ops)"] = max(0.0, total - sum(kinds.values()))
    kinds["total"] = total
    return kinds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--synthetic", action="store_true", help="random pairs of the preset's shape instead")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile-epochs", type=int, default=5, help="epochs of each loop under the profiler")
    ap.add_argument("--loops", nargs="+", default=["autograd", "closed form"], choices=["autograd", "closed form"])
    args = ap.parse_args(argv)
    use_checkout(args.threads)
    import numpy as np

    from mllmshift.estimators.mi.club import CLUB  # noqa: F401  (imported before timing)

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
        print(f"\nself CPU seconds over {args.profile_epochs} epochs, by kind of operator (torch.profiler; "
              f"load average {os.getloadavg()[0]:.1f})\n")
        print("| kind | " + " | ".join(args.loops) + " |")
        print("|---|" + "---:|" * len(args.loops))
        for kind in next(iter(prof.values())):
            cells = []
            for loop in args.loops:
                v, t = prof[loop][kind], prof[loop]["total"]
                cells.append(f"{v:.2f}" + ("" if kind == "total" else f" ({v / t:.0%})"))
            print(f"| {kind} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
