"""Speed and memory of EMI + EMID + the bound at scale, and the naive CLUB formula beside it.

Usage::

    python benchmarks/core.py                 # n = 100,000, d = 768 (about 3 GB of input embeddings)
    python benchmarks/core.py --n 20000       # smaller

Two splits (ID and shifted) of n random unit vectors per array (image query,
text query, response, reference), d = 768, a CLUB estimator of the paper's
shape (given, not trained), linear RJSD for the bound. Each measurement runs in a fresh subprocess so its
peak resident memory is its own; the memory ratio is
(peak RSS − RSS before the embeddings exist) / bytes of the 8 input arrays.
The naive n×n×d formula of the reference code is timed at growing n until
the next size would not fit in the memory limit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _unit(rng, n: int, d: int):
    import numpy as np

    a = rng.standard_normal((n, d), dtype=np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    return a


def child_scalable(n: int, d: int, seed: int) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, SRC)
    from mllmshift.embeddings import EmbeddedSplit
    from mllmshift.estimators.mi.club import CLUB
    from mllmshift.metrics import emid, emid_upper_bound

    est = CLUB(d, d, hidden_size=500, seed=seed)
    base = _rss_mb()
    rng = np.random.default_rng(seed)
    arrays = [_unit(rng, n, d) for _ in range(8)]
    input_mb = sum(a.nbytes for a in arrays) / 2**20
    c0 = time.process_time()
    t0 = time.perf_counter()
    splits = [EmbeddedSplit.from_arrays(name, x_visual=arrays[k], x_text=arrays[k + 1], response=arrays[k + 2],
                                        reference=arrays[k + 3], fusion="mean")
              for name, k in (("id", 0), ("ood", 4))]
    t1 = time.perf_counter()
    d_res = emid(splits[0], splits[1], est)
    t2 = time.perf_counter()
    bound = emid_upper_bound(splits[0], splits[1], divergence="rjsd")  # the paper's RJSD (the default would
    # switch to the classifier JSD at this size, which trains a classifier per term)
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"cpu_s": cpu, "load": os.getloadavg()[0], "n": n, "d": d, "threads": torch.get_num_threads(), "input_mb": input_mb, "fuse_s": t1 - t0,
            "emid_s": t2 - t1, "bound_s": t3 - t2, "total_s": t3 - t0, "extra_peak_mb": peak - base,
            "mem_ratio": (peak - base) / input_mb, "emid": d_res.value, "bound": bound.value}


def child_naive(n: int, d: int, seed: int) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, SRC)
    from mllmshift.estimators.mi.club import CLUB

    est = CLUB(d, d, hidden_size=500, seed=seed)
    rng = np.random.default_rng(seed)
    x, y = _unit(rng, n, d), _unit(rng, n, d)
    t0 = time.perf_counter()
    with torch.no_grad():
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        mu, logvar = est.net(xt)
        positive = -((mu - yt) ** 2) / 2.0 / logvar.exp()
        negative = -((yt.unsqueeze(0) - mu.unsqueeze(1)) ** 2).mean(dim=1) / 2.0 / logvar.exp()
        naive = float((positive.sum(-1) - negative.sum(-1)).mean())
    t1 = time.perf_counter()
    ours = est.mi(x, y)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "naive_s": t1 - t0, "ours_s": t2 - t1, "peak_mb": peak, "naive": naive, "ours": ours,
            "rel_diff": abs(naive - ours) / max(abs(naive), 1e-12)}


def run_child(kind: str, n: int, d: int, seed: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--n", str(n), "--d", str(d),
                          "--seed", str(seed)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def naive_table(d: int, seed: int, mem_gb: float) -> None:
    """Print the naive n×n×d formula's table at n = 250, 500, ... until two tensors would pass ``mem_gb``."""
    print("| n | n×n×d tensor (GB) | naive (s) | closed form (s) | peak RSS (MB) | relative difference |")
    print("|---|---|---|---|---|---|")
    n = 250
    while True:
        tensor_gb = n * n * d * 4 / 2**30
        if tensor_gb * 2 > mem_gb:  # the reference code holds two such temporaries
            print(f"| {n:,} | {tensor_gb:.1f} | (not attempted: over --naive-mem-gb {mem_gb:g}) | | | |")
            break
        c = run_child("naive", n, d, seed)
        print(f"| {n:,} | {tensor_gb:.2f} | {c['naive_s']:.3f} | {c['ours_s']:.4f} | {c['peak_mb']:.0f} "
              f"| {c['rel_diff']:.1e} |", flush=True)
        n *= 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--naive-mem-gb", type=float, default=10.0, help="largest n×n×d tensor to try, GB")
    ap.add_argument("--child", choices=["scalable", "naive"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = child_scalable if args.child == "scalable" else child_naive
        print(json.dumps(fn(args.n, args.d, args.seed)))
        return

    print(f"# config: n={args.n} d={args.d} seed={args.seed} cpus={os.cpu_count()}")
    r = run_child("scalable", args.n, args.d, args.seed)
    print("\n## EMI(ID) + EMI(OOD) + EMID + bound, two splits, estimator given\n")
    print("| n | d | input embeddings (MB) | fuse X (s) | EMID (s) | bound (s) | total (s) | extra peak RSS (MB) "
          "| peak / input | CPU time (s) | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {r['n']:,} | {r['d']} | {r['input_mb']:.0f} | {r['fuse_s']:.2f} | {r['emid_s']:.2f} | {r['bound_s']:.2f} "
          f"| {r['total_s']:.2f} | {r['extra_peak_mb']:.0f} | {r['mem_ratio']:.2f}× | {r['cpu_s']:.1f} | {r['load']:.1f} |")

    print("\n## CLUB estimate: naive n×n×d formula vs closed-form negative term (one MI)\n")
    naive_table(args.d, args.seed, args.naive_mem_gb)

if __name__ == "__main__":
    main()
