"""Out-of-core scoring at n = 1,000,000: EMI + EMID + the bound on two splits of embeddings on disk.

Usage::

    python benchmarks/scale.py                          # n = 100,000 and 1,000,000, d = 768
    python benchmarks/scale.py --n 20000 --n 200000     # other sizes
    python benchmarks/scale.py --bootstrap 100          # add a Poisson-bootstrap CI of EMID

Four float32 files of n unit vectors × d (``A``–``D``, written in chunks, ≈ 3 GB each at n = 1,000,000) make
two splits: ID = (visual A, text B, response C, reference D), shifted = (C, D, A, B), X = (Z_v + Z_t)/2
fused chunk by chunk. A CLUB of the paper's shape (hidden 500, given, not trained) scores EMI and EMID; the
bound is linear RJSD (the paper's; ``auto`` would train a classifier per term at this size). ``--path joint``
(the default) computes both from one read of each split (:func:`mllmshift.onepass.emid_and_bound`; its EMID
and bound columns are one figure); ``--path separate`` makes the two calls (``metrics.emid``, then
``metrics.emid_upper_bound``), the way before issue #23's joint pass. Every row runs
in a fresh subprocess; "peak RSS" is the process's high-water mark (``VmHWM``) minus the RSS after imports, and the
inputs are read with plain file reads (their pages sit in the kernel's page cache, not in the process),
so it is the memory the computation itself holds. The files are deleted afterwards (``--keep`` keeps
them). The authors' n × n × d CLUB formula is timed beside it (``benchmarks/core.py``'s naive row) at
growing n until the next tensor would pass ``--naive-mem-gb``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "src")
sys.path.insert(0, HERE)
from core import _rss_mb, naive_table  # noqa: E402  (benchmarks/core.py: RSS probe, the naive-formula table)


def write_inputs(folder: str, n: int, d: int, seed: int, chunk: int = 65536) -> list[str]:
    """Four .npy files of n random unit rows, written chunk by chunk through a memory map."""
    import numpy as np

    paths = []
    for k, name in enumerate("ABCD"):
        path = os.path.join(folder, f"{name}.npy")
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
        rng = np.random.default_rng([seed, k])
        for s in range(0, n, chunk):
            a = rng.standard_normal((min(chunk, n - s), d), dtype=np.float32)
            out[s : s + len(a)] = a / np.linalg.norm(a, axis=1, keepdims=True)
        out.flush()
        del out
        paths.append(path)
    return paths


def child_stream(folder: str, d: int, seed: int, bootstrap: int, threads: int, path: str) -> dict:
    sys.path.insert(0, SRC)
    from mllmshift.openmp import passive_waits
    from mllmshift.threads import thread_limits

    passive_waits(os.environ)  # before torch loads, as the CLI does (mllmshift.openmp)

    with thread_limits(threads):  # torch, BLAS and OpenMP pools, as a run sets them (numpy's BLAS runs the bound)
        return _stream(folder, d, seed, bootstrap, threads, path)


def _stream(folder: str, d: int, seed: int, bootstrap: int, threads: int, path: str) -> dict:
    from mllmshift.embeddings import EmbeddedSplit
    from mllmshift.estimators.mi.club import CLUB
    from mllmshift.metrics import bootstrap_emid, emid, emid_upper_bound
    from mllmshift.onepass import emid_and_bound
    from mllmshift.sources import NpySource

    est = CLUB(d, d, hidden_size=500, seed=seed)  # its default chunk_size (1,024 rows; 8,192 was 2.5× slower)
    src = {k: NpySource(os.path.join(folder, f"{k}.npy")) for k in "ABCD"}
    base = _rss_mb()
    n = len(src["A"])
    input_mb = 4 * n * d * 4 / 2**20
    c0, t0 = time.process_time(), time.perf_counter()
    splits = [EmbeddedSplit.from_arrays(name, x_visual=src[v], x_text=src[t], response=src[r], reference=src[f],
                                        fusion="mean", ids=range(n))
              for name, (v, t, r, f) in (("id", "ABCD"), ("ood", "CDAB"))]
    if path == "joint":
        d_res, bound = emid_and_bound(splits[0], splits[1], est, divergence="rjsd")
        t1 = t2 = time.perf_counter()
    else:
        d_res = emid(splits[0], splits[1], est)
        t1 = time.perf_counter()
        bound = emid_upper_bound(splits[0], splits[1], divergence="rjsd")
        t2 = time.perf_counter()
    ci = None
    if bootstrap:
        ci = bootstrap_emid(splits[0], splits[1], est, n_resamples=bootstrap, seed=seed, scheme="poisson")
    t3 = time.perf_counter()
    peak = _status_mb("VmHWM")
    return {"n": n, "d": d, "threads": threads, "input_mb": input_mb, "emid_s": t1 - t0, "bound_s": t2 - t1,
            "bootstrap_s": t3 - t2 if bootstrap else None, "bootstrap": bootstrap, "total_s": t2 - t0, "path": path,
            "cpu_s": time.process_time() - c0, "extra_peak_mb": peak - base, "load": os.getloadavg()[0],
            "emid": d_res.value, "bound": bound.value, "ci": None if ci is None else [ci.low, ci.high]}


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, MB. The peak is ``VmHWM``, this program's own
    high-water mark: ``getrusage``'s ``ru_maxrss`` (used before 2026-12-07) keeps across exec the peak of the
    parent at fork, which had just written the inputs through a memory map (about one 3 GB file at
    n = 1,000,000), so every 1M row read 3,071 MB whatever the scoring held."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help="split size (repeatable; default 100,000 and 1,000,000)")
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=0, help="Poisson-bootstrap resamples of EMID (default: none)")
    ap.add_argument("--workdir", default=None, help="where the input files go (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the input files")
    ap.add_argument("--path", choices=["joint", "separate"], default="joint",
                    help="EMID and bound from one read (joint, default) or two calls (separate)")
    ap.add_argument("--naive-mem-gb", type=float, default=10.0,
                    help="largest naive n×n×d tensor to try, GB (0: skip the naive table)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child_stream(args.child, args.d, args.seed, args.bootstrap, args.threads, args.path)))
        return
    sizes = args.n or [100_000, 1_000_000]
    print(f"# config: n={sizes} d={args.d} seed={args.seed} threads={args.threads} bootstrap={args.bootstrap} "
          f"path={args.path} cpus={os.cpu_count()}")
    print("\n## EMI(ID) + EMI(OOD) + EMID + bound, two splits read from .npy files in chunks, CLUB given\n")
    print("| n | d | input files (MB) | write inputs (s) | EMID (s) | bound (s) | total (s) | vs first row "
          "| extra peak RSS (MB) | CPU time (s) | load avg | bootstrap B | bootstrap (s) | EMID | bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    first = None
    for n in sizes:
        folder = tempfile.mkdtemp(prefix=f"mllmshift-scale-{n}-", dir=args.workdir)
        try:
            t = time.perf_counter()
            write_inputs(folder, n, args.d, args.seed)
            write_s = time.perf_counter() - t
            r = run_child(["--child", folder, "--d", str(args.d), "--seed", str(args.seed), "--threads",
                           str(args.threads), "--bootstrap", str(args.bootstrap), "--path", args.path])
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
        if "error" in r:
            print(f"| {n:,} | {args.d} | | {write_s:.1f} | (failed: {r['error']}) | | | | | | | | | | |")
            continue
        first = first or (n, r["total_s"])
        ratio = r["total_s"] / first[1]
        boot = "" if not r["bootstrap"] else f"{r['bootstrap_s']:.1f}"
        parts = (f"{r['emid_s']:.1f} | {r['bound_s']:.1f}" if r["path"] == "separate"
                 else "(one read) | (one read)")
        print(f"| {n:,} | {r['d']} | {r['input_mb']:.0f} | {write_s:.1f} | {parts} "
              f"| {r['total_s']:.1f} | {ratio:.2f}× (n {n / first[0]:.0f}×) | {r['extra_peak_mb']:.0f} "
              f"| {r['cpu_s']:.1f} | {r['load']:.1f} | {r['bootstrap'] or ''} | {boot} | {r['emid']:+.6f} "
              f"| {r['bound']:.6f} |", flush=True)

    if args.naive_mem_gb > 0:
        print("\n## CLUB estimate: the authors' n×n×d formula (one MI, in memory) at the sizes it survives\n")
        naive_table(args.d, args.seed, args.naive_mem_gb)

if __name__ == "__main__":
    main()
