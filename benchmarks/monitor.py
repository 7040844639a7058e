"""The monitor's throughput (records per second) and its false-alarm rate on a stream without shift.

Usage::

    python benchmarks/monitor.py throughput --threads 2 --window 100 1000   # records/s: no / cold / warm cache
    python benchmarks/monitor.py false-alarms    # alerts per window over ≥ 200 windows of a stationary stream
    python benchmarks/monitor.py stats --threads 1   # CPU per window of the statistics, linearised vs resampled
    python benchmarks/monitor.py profile --threads 1 # CPU seconds per component, first window and steady windows
    python benchmarks/monitor.py window --stat-windows 100 1000   # one window's eigenvalue tasks, CPU by kind
    python benchmarks/monitor.py all

**Throughput.** The offline generator of :mod:`mllmshift.monitor.replay` (every text made unique, so a cold
cache has to encode every record), a reference of max(400, 2 × window) records (the least the drift terms
accept), tumbling windows of each ``--window`` size (100 by default), every term, the project's default
estimators (EvalConfig), ``use-multilingual`` embeddings; ``--threads`` torch and BLAS threads (the run's
EvalConfig.threads; the window's eigenvalue problems run as tasks on that many threads too) and OpenMP's
passive waits, as ``mllmshift monitor`` runs (:mod:`mllmshift.openmp`). Each row runs in a fresh subprocess:
set-up (reference embedding, MI estimator fit), the first window (which also draws the null distributions at
that size, once per size), then the other windows (``--windows`` − 1), timed apart, wall and CPU. Embedding
time is measured inside the monitor; the rest of a window is its statistics. Cache modes (``--caches``):
``none`` (``--no-cache``: every text encoded), ``cold`` (an empty cache: every text encoded and stored),
``warm`` (the stream's texts already in the cache: lookups only).

**Profile.** The throughput run of one cache mode (``--cache``) on ``--threads``, with the CPU seconds of each
component (:data:`PROFILED`) summed apart for the first window and the steady ones, and (``--cprofile``) the
top functions of a cProfile of the steady windows.

**Window.** ``TermCalculator.window`` alone on seeded 512-d float32 Gaussian rows with a decaying spectrum
(d^-0.7), a reference of max(400, 2w), every drift and output term, no EMI: CPU seconds per window of each kind
of task on one worker (the tasks run in order on the calling thread), then wall and CPU per window on
``--threads`` workers; ``--windows`` windows after one untimed.

**False alarms.** A stream drawn from the reference's own distribution (independent draws of the same
generator), windows of 50 records, α = 0.05 per window, every watched term, one run per encoder. The
rule fires in a window when some term's lower confidence bound is over its threshold in k consecutive
windows; the table gives the windows where that happened for k = 1 and k = 2 (counted from the ``_over``
columns of one run), and how often each term's *estimate* was over its threshold (the level each threshold
is set to: α/T).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def _config(window: int, encoder: str, threads: int, dim: int = 64, **fields):
    """The monitor config of a benchmark run: the project's evaluation defaults (EvalConfig) but the text
    encoder (hashing-bow at ``dim`` dimensions, 64 by default) and the thread count."""
    from mllmshift.components import Component
    from mllmshift.monitor import MonitorConfig, WindowSpec
    from mllmshift.monitor.config import default_eval

    opts = {"dim": dim} if encoder == "hashing-bow" else {}
    ev = default_eval().with_(text_encoder=Component(encoder, opts), threads=threads)
    return MonitorConfig(WindowSpec.parse(str(window)), ev, **fields)


def _unique(records: list[dict], tag: str) -> list[dict]:
    return [{**r, "question": f"{r['question']} (case {tag}{i})", "response": f"{r['response']} Case {tag}{i}.",
             "reference": f"{r['reference']} Case {tag}{i}."} for i, r in enumerate(records)]


def child_throughput(args: dict) -> dict:
    sys.path.insert(0, SRC)
    from mllmshift.encoders.cache import EmbeddingCache
    from mllmshift.monitor import Monitor
    from mllmshift.monitor.replay import stamp, synthetic_records
    from mllmshift.records import Sample, Split

    w, windows = args["window"], args["windows"]
    ref = Split("ref", tuple(Sample(**r) for r in _unique(synthetic_records(args["reference"], 0, 0, prefix="r"), "r")))
    stream = stamp(_unique(synthetic_records(w * windows, 0, 1, prefix="s"), "s"))
    tmp = Path(tempfile.mkdtemp(prefix="mllmshift-bench-"))
    cfg = _config(w, args["encoder"], args["threads"], args.get("dim", 64), ci=args.get("ci", "linearised"))
    cache = None if args["cache"] == "none" else EmbeddingCache(tmp / "cache")
    if args["cache"] == "warm":  # the stream's texts are already there (untimed)
        from mllmshift.encoders.pipeline import build_encoder

        enc = build_encoder(args["encoder"], **dict(cfg.eval.text_encoder.options))
        cache.encode(enc, [r[k] for r in stream for k in ("question", "response", "reference")])
    path = tmp / "stream.jsonl"
    write = lambda recs, mode: path.open(mode).write("".join(json.dumps(r) + "\n" for r in recs))  # noqa: E731
    write(stream[:w], "w")
    c0, t0 = time.process_time(), time.perf_counter()
    mon = Monitor(cfg, ref, path, tmp / "out", cache=cache, log=None, refresh_s=1e9)
    t_setup = time.perf_counter() - t0
    embed_s, embed_cpu = [0.0], [0.0]
    inner = mon.embedder.embed

    def timed(records):
        s, c = time.perf_counter(), time.process_time()
        try:
            return inner(records)
        finally:
            embed_s[0] += time.perf_counter() - s
            embed_cpu[0] += time.process_time() - c

    mon.embedder.embed = timed  # type: ignore[method-assign]
    t1 = time.perf_counter()
    mon.run_once()
    t_first = time.perf_counter() - t1
    first_embed, first_embed_cpu = embed_s[0], embed_cpu[0]
    write(stream[w:], "a")
    t2, c2 = time.perf_counter(), time.process_time()
    s = mon.run_once()
    t_rest, c_rest = time.perf_counter() - t2, time.process_time() - c2
    return {"cache": args["cache"], "encoder": args["encoder"], "setup_s": t_setup, "first_window_s": t_first,
            "first_embed_s": first_embed, "records": s.records, "rest_s": t_rest,
            "rest_embed_s": embed_s[0] - first_embed, "records_per_s": s.records / t_rest,
            "cpu_s": time.process_time() - c0, "windows": s.windows + 1, "rest_cpu_s": c_rest,
            "rest_embed_cpu_s": embed_cpu[0] - first_embed_cpu}


#: (component, module, object, attribute): the functions the profile times; each call's CPU time goes to the
#: innermost timed component running (exclusive attribution; a null draw's nested calls are the draw's), the rest
#: of a window to "other"
PROFILED = (
    ("embedding", "mllmshift.monitor.embed", "RecordEmbedder", "embed"),
    ("null draws", "mllmshift.monitor.null", None, "_draws"),
    ("RJSD estimates", "mllmshift.monitor.terms", "TermCalculator", "jsd"),
    ("RJSD influence (slopes)", "mllmshift.monitor.terms", None, "rjsd_influence"),
    ("RJSD influence (slopes)", "mllmshift.monitor.terms", None, "influence_parts"),
    ("RJSD exact resamples", "mllmshift.monitor.influence", "WeightedRJSD", "__call__"),
    ("RJSD exact resamples", "mllmshift.monitor.influence", "WeightedRJSD", "parts"),
    ("RJSD exact resamples", "mllmshift.monitor.influence", "WeightedRJSD", "__init__"),
    ("output term + bootstrap", "mllmshift.monitor.terms", "TermCalculator", "output"),
    ("output term + bootstrap", "mllmshift.monitor.terms", "TermCalculator", "_output_draws"),
    ("output term + bootstrap", "mllmshift.monitor.influence", "PairedWeightedRJSD", "__call__"),
    ("EMI estimates + bootstrap", "mllmshift.monitor.terms", "TermCalculator", "_emi_terms"),
    ("EMI estimates + bootstrap", "mllmshift.monitor.terms", "TermCalculator", "emi"),
    ("sampling A, B, B'", "mllmshift.monitor.terms", "TermCalculator", "_sample"),
    ("series rows (JSONL + CSV)", "mllmshift.monitor.series", "SeriesWriter", "write"),
    ("state save", "mllmshift.monitor.runner", "Monitor", "_save"),
    ("metrics export", "mllmshift.monitor.runner", "Monitor", "_export"),
    ("plots + index.html", "mllmshift.monitor.runner", "Monitor", "refresh"),
)


def _instrument(spent: dict[str, float]) -> None:
    """Wrap the :data:`PROFILED` functions so that each adds its exclusive CPU time to ``spent``."""
    import functools
    import importlib

    stack: list[list[float]] = []  # per running timed call: [CPU of its nested timed calls]

    barrier = [0]  # inside a null draw every nested call is the draw's (it computes the same terms)

    def wrap(name, fn):
        @functools.wraps(fn)
        def timed(*a, **k):
            if barrier[0]:
                return fn(*a, **k)
            barrier[0] += name == "null draws"
            stack.append([0.0])
            c = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                total = time.process_time() - c
                barrier[0] -= name == "null draws"
                nested = stack.pop()[0]
                spent[name] = spent.get(name, 0.0) + total - nested
                if stack:
                    stack[-1][0] += total
        return timed

    for name, module, obj, attr in PROFILED:
        mod = importlib.import_module(module)
        owner = getattr(mod, obj) if obj else mod
        fn = getattr(owner, attr, None)
        if fn is not None:
            setattr(owner, attr, wrap(name, fn))
        if obj is None and attr in ("_draws", "rjsd_influence", "influence_parts"):  # imported by name elsewhere
            for other in ("mllmshift.monitor.terms", "mllmshift.monitor.runner"):
                m2 = importlib.import_module(other)
                if getattr(m2, attr, None) is fn:
                    setattr(m2, attr, getattr(owner, attr))


def child_profile(args: dict) -> dict:
    """CPU seconds per component (:data:`PROFILED`) of the first window and of the steady ones, and the
    top functions of a cProfile of the steady windows."""
    import cProfile
    import io
    import pstats

    sys.path.insert(0, SRC)
    from mllmshift.monitor.runner import Monitor

    first: dict[str, float] = {}
    rest: dict[str, float] = {}
    spent: dict[str, float] = first
    _instrument(_Proxy(lambda: spent))
    orig = Monitor.run_once
    prof = cProfile.Profile()
    calls = [0]
    totals: list[float] = []

    def run_once(self):
        nonlocal spent
        calls[0] += 1
        spent = first if calls[0] == 1 else rest
        c = time.process_time()
        if calls[0] == 2:
            prof.enable()
        try:
            return orig(self)
        finally:
            if calls[0] == 2:
                prof.disable()
            totals.append(time.process_time() - c)

    Monitor.run_once = run_once  # type: ignore[method-assign]
    r = child_throughput(args)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(args.get("top", 15))
    return {**r, "first": first, "rest": rest, "first_total": totals[0], "rest_total": totals[1],
            "cprofile": buf.getvalue()}


class _Proxy(dict):
    """A dict whose updates go to the dict ``target()`` returns now (first window / steady windows)."""

    def __init__(self, target) -> None:
        super().__init__()
        self._target = target

    def get(self, k, default=None):
        return self._target().get(k, default)

    def __setitem__(self, k, v) -> None:
        self._target()[k] = v


def child_false_alarms(args: dict) -> dict:
    sys.path.insert(0, SRC)
    import math

    from mllmshift.encoders.cache import EmbeddingCache
    from mllmshift.monitor import Monitor
    from mllmshift.monitor.replay import stamp, synthetic_records
    from mllmshift.monitor.series import read_series
    from mllmshift.records import Sample, Split

    w, n = args["window"], args["windows"]
    ref = Split("ref", tuple(Sample(**r) for r in synthetic_records(args["reference"], 0, 0, prefix="r")))
    tmp = Path(tempfile.mkdtemp(prefix="mllmshift-fa-"))
    path = tmp / "stream.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in stamp(synthetic_records(w * n, 0, 1, prefix="s"))))
    cfg = _config(w, args["encoder"], args["threads"], consecutive=1, alpha=args["alpha"],
                  **({"n_null": args["null_draws"]} if args.get("null_draws") else {}))
    t0 = time.perf_counter()
    mon = Monitor(cfg, ref, path, tmp / "out", cache=EmbeddingCache(tmp / "cache"), log=None, refresh_s=1e9)
    mon.run_once()
    rows = read_series(tmp / "out" / "series.jsonl")
    watched = mon.watched
    over = [[bool(r.get(f"{t}_over")) for t in watched] for r in rows]
    k1 = sum(any(o) for o in over)
    k2 = sum(any(over[i][j] and over[i - 1][j] for j in range(len(watched))) for i in range(1, len(rows)))
    point = {t: sum(1 for r in rows if r.get(t) is not None and isinstance(r.get(f"{t}_threshold"), float)
                    and math.isfinite(r[f"{t}_threshold"]) and r[t] > r[f"{t}_threshold"]) for t in watched}
    computed = {t: sum(1 for r in rows if r.get(t) is not None) for t in watched}
    return {"encoder": args["encoder"], "window": w, "windows": len(rows), "alpha": cfg.alpha,
            "term_alpha": cfg.term_alpha, "k1_windows": k1, "k2_windows": k2, "point_over": point,
            "computed": computed, "wall_s": time.perf_counter() - t0}


#: (kind, module, object, attribute): the window's tasks timed by :func:`child_window`
WINDOW_TASKS = (
    ("slopes", "mllmshift.monitor.terms", None, "influence_parts"),
    ("slopes", "mllmshift.monitor.terms", None, "rjsd_influence"),
    ("exact resamples, drift terms", "mllmshift.monitor.influence", "WeightedRJSD", "parts"),
    ("exact resamples, drift terms", "mllmshift.monitor.influence", "WeightedRJSD", "__call__"),
    ("exact resamples, output term", "mllmshift.monitor.influence", "PairedWeightedRJSD", "__call__"),
    ("output_shift baseline", "mllmshift.monitor.terms", "TermCalculator", "output"),
)


def child_window(args: dict) -> dict:
    import functools
    import importlib

    import numpy as np
    from threadpoolctl import threadpool_limits

    sys.path.insert(0, SRC)
    from mllmshift.estimators.defaults import build_divergence
    from mllmshift.monitor.config import MonitorConfig, WindowSpec, default_eval
    from mllmshift.monitor.embed import Rows
    from mllmshift.monitor.terms import Reference, TermCalculator, split_reference

    d, w, workers, reps = 512, args["window"], args["threads"], args["windows"]
    rng = np.random.default_rng(0)
    scale = np.arange(1, d + 1) ** -0.7

    def rows(n: int, prefix: str, shift: float = 0.0) -> Rows:
        mk = lambda: (rng.normal(size=(n, d)) * scale + shift).astype(np.float32)  # noqa: E731
        x = mk()
        return Rows(tuple(f"{prefix}{i}" for i in range(n)), x, mk() + 0.3 * x, mk() + 0.3 * x, np.ones(n, bool),
                    mk(), "concat")

    ref, win = rows(max(400, 2 * w), "r"), rows(w, "w", 0.05)
    cfg = MonitorConfig(WindowSpec.parse(str(w)), default_eval().with_(threads=workers))
    spent: dict[str, float] = {}
    timing = [False]

    def wrap(kind, fn):
        @functools.wraps(fn)
        def timed(*a, **k):
            c = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                if timing[0]:
                    spent[kind] = spent.get(kind, 0.0) + time.thread_time() - c
        return timed

    for kind, module, obj, attr in WINDOW_TASKS:
        owner = importlib.import_module(module)
        owner = getattr(owner, obj) if obj else owner
        if getattr(owner, attr, None) is not None:
            setattr(owner, attr, wrap(kind, getattr(owner, attr)))
    out: dict = {"window": w}
    with threadpool_limits(1):
        for n_workers in (1, workers):
            calc = TermCalculator(Reference(ref, *split_reference(ref, 7)), cfg, build_divergence("rjsd"),
                                  workers=n_workers)
            calc.window(win, 0)
            timing[0] = n_workers == 1
            c, t = time.process_time(), time.perf_counter()
            for i in range(reps):
                calc.window(win, i + 1)
            timing[0] = False
            out[f"wall_{n_workers}"] = (time.perf_counter() - t) / reps
            out[f"cpu_{n_workers}"] = (time.process_time() - c) / reps
    out["kinds"] = {k: v / reps for k, v in spent.items()}
    return out


def window(a: argparse.Namespace) -> None:
    """One table: CPU per window by task kind on one worker, then the window on ``--threads`` workers."""
    rs = [_spawn("window", {"window": w, "threads": a.threads, "windows": a.windows}) for w in a.stat_windows]
    kinds = list(dict.fromkeys(k for k, *_ in WINDOW_TASKS))
    print(f"\n### One window's eigenvalue tasks: 512-d Gaussian rows, reference max(400, 2w), no EMI, "
          f"{a.windows} windows, load avg {os.getloadavg()[0]:.1f} (CPU s per window)\n")
    print("| task (one worker) | " + " | ".join(f"w = {r['window']}" for r in rs) + " |")
    print("|---|" + "---|" * len(rs))
    for k in kinds:
        print(f"| {k} | " + " | ".join(f"{r['kinds'].get(k, 0.0):.3f}" for r in rs) + " |")
    print("| **window, one worker (CPU s)** | " + " | ".join(f"**{r['cpu_1']:.3f}**" for r in rs) + " |")
    print(f"| window, {a.threads} workers: wall s / CPU s | "
          + " | ".join(f"{r[f'wall_{a.threads}']:.3f} / {r[f'cpu_{a.threads}']:.3f}" for r in rs) + " |")


def _spawn(kind: str, args: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(args)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput(a: argparse.Namespace) -> None:
    """One table per window size (``--window``, several allowed): rows no / cold / warm cache, each a fresh
    process; the reference is max(``--reference``, 2 × window), the least the drift terms accept; "steady" is
    the windows after the first, wall and CPU apart, with the load average read as each row ends."""
    for w in a.window:
        ref = max(a.reference, 2 * w)
        print(f"\n### Throughput: reference {ref}, windows of {w} records, {a.encoder}, --threads {a.threads}\n")
        print("| cache | set-up (s) | first window (s) | of which embedding (s) | next "
              f"{a.windows - 1} windows (s) | of which embedding (s) | records/s (steady) | steady CPU (s) | "
              "of which embedding (CPU s) | statistics per window (s wall, less embedding) | statistics per window "
              "(CPU s) | CPU (s) | load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for cache in a.caches.split(","):
            r = _spawn("throughput", {"cache": cache, "encoder": a.encoder, "reference": ref, "window": w,
                                      "windows": a.windows, "threads": a.threads})
            stat = (r["rest_s"] - r["rest_embed_s"]) / (a.windows - 1)
            stat_cpu = (r["rest_cpu_s"] - r["rest_embed_cpu_s"]) / (a.windows - 1)
            print(f"| {cache} | {r['setup_s']:.1f} | {r['first_window_s']:.1f} | {r['first_embed_s']:.1f} | "
                  f"{r['rest_s']:.1f} | {r['rest_embed_s']:.1f} | **{r['records_per_s']:.0f}** | "
                  f"{r['rest_cpu_s']:.1f} | {r['rest_embed_cpu_s']:.1f} | {stat:.2f} | {stat_cpu:.2f} | "
                  f"{r['cpu_s']:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)


def stats(a: argparse.Namespace) -> None:
    """CPU time of a window's statistics, the linearised intervals against the resampled ones: hashing-bow at 512
    dimensions (USE's width; embedding it is cheap and counted apart), every term, a reference of 4 windows."""
    print(f"\n### Statistics per window: hashing-bow 512-d, every term, reference 4n, {a.threads} thread(s), "
          f"load avg {os.getloadavg()[0]:.1f} (CPU seconds; the machine may be shared)\n")
    print("| window | intervals | CPU per window, steady (s) | of which embedding (CPU s) | statistics per window "
          "(CPU s) | records/s of statistics (CPU) |")
    print("|---|---|---|---|---|---|")
    for w in a.stat_windows:
        for ci in ("linearised", "resampled"):
            n = max(2, a.windows - 1)
            r = _spawn("throughput", {"cache": "none", "encoder": "hashing-bow", "dim": 512, "reference": 4 * w,
                                      "window": w, "windows": n + 1, "threads": a.threads, "ci": ci})
            per = r["rest_cpu_s"] / n
            stat = max(1e-9, (r["rest_cpu_s"] - r["rest_embed_cpu_s"]) / n)
            print(f"| {w} | {ci} | {per:.2f} | {r['rest_embed_cpu_s'] / n:.2f} | {stat:.2f} | {w / stat:.0f} |",
                  flush=True)


def profile(a: argparse.Namespace) -> None:
    """CPU seconds per component, the first window (which draws the nulls) and the steady windows apart."""
    for w in a.stat_windows:
        ref = max(a.reference, 2 * w)  # the drift terms need a reference of at least 2 windows
        r = _spawn("profile", {"cache": a.cache, "encoder": a.encoder, "reference": ref, "window": w,
                               "windows": a.windows, "threads": a.threads})
        n = r["windows"] - 1
        print(f"\n### Profile: reference {ref}, windows of {w}, {a.encoder}, cache {a.cache}, {a.threads} thread(s), "
              f"load avg {os.getloadavg()[0]:.1f} (CPU seconds, exclusive)\n")
        print(f"| component | first window (CPU s) | next {n} windows (CPU s) | per steady window (CPU s) | "
              "share of steady |")
        print("|---|---|---|---|---|")
        names = list(dict.fromkeys([p[0] for p in PROFILED if p[0] in r["first"] or p[0] in r["rest"]]))
        other_f = r["first_total"] - sum(r["first"].values())
        other_r = r["rest_total"] - sum(r["rest"].values())
        for name, f, s in [(k, r["first"].get(k, 0.0), r["rest"].get(k, 0.0)) for k in names] + \
                [("other", other_f, other_r), ("**total**", r["first_total"], r["rest_total"])]:
            print(f"| {name} | {f:.2f} | {s:.2f} | {s / n:.3f} | {100 * s / r['rest_total']:.0f} % |")
        stats = r["rest_total"] - r["rest"].get("embedding", 0.0)
        print(f"\nsteady: {r['records']} records, {r['rest_total']:.2f} CPU s ({r['records'] / r['rest_total']:.0f} "
              f"records per CPU-second), statistics and I/O {stats / n:.3f} CPU s per window, wall "
              f"{r['rest_s']:.2f} s ({r['records_per_s']:.0f} records/s); set-up {r['setup_s']:.1f} s wall")
        if a.cprofile:
            print("\n```\n" + "\n".join(r["cprofile"].strip().splitlines()[:40]) + "\n```")


def false_alarms(a: argparse.Namespace) -> None:
    print(f"\n### False alarms on a stream without shift: windows of {a.fa_window} records, reference "
          f"{a.fa_reference}, α = {a.alpha}, load avg {os.getloadavg()[0]:.1f}\n")
    print("| encoder | windows | windows with an alert, k = 1 | k = 2 | rate (k = 1) | estimate over its threshold "
          "per term (level α/T each) | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    for enc in a.encoders.split(","):
        r = _spawn("false-alarms", {"encoder": enc, "window": a.fa_window, "windows": a.fa_windows,
                                    "reference": a.fa_reference, "alpha": a.alpha, "threads": a.threads})
        terms = ", ".join(f"{t} {c}/{r['computed'][t]}" for t, c in r["point_over"].items())
        print(f"| {enc} | {r['windows']} | {r['k1_windows']} | {r['k2_windows']} | "
              f"{r['k1_windows'] / r['windows']:.3f} | {terms} (α/T = {r['term_alpha']:.4f}) | {r['wall_s']:.0f} |",
              flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        # the OpenMP wait policy of `mllmshift monitor` (the CLI's entry point sets it before torch loads)
        sys.path.insert(0, SRC)
        from mllmshift.openmp import passive_waits

        passive_waits(os.environ)
        fn = {"throughput": child_throughput, "profile": child_profile,
              "false-alarms": child_false_alarms, "window": child_window}[sys.argv[2]]
        print(json.dumps(fn(json.loads(sys.argv[3]))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["throughput", "false-alarms", "stats", "profile", "window", "all"])
    p.add_argument("--stat-windows", type=int, nargs="+", default=[100, 1000], help="stats, profile, window: window sizes")
    p.add_argument("--cache", default="none", choices=["none", "cold", "warm"], help="profile: cache mode")
    p.add_argument("--cprofile", action="store_true", help="profile: print cProfile's top functions too")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--encoder", default="use-multilingual")
    p.add_argument("--reference", type=int, default=400)
    p.add_argument("--window", type=int, nargs="+", default=[100], help="throughput: window sizes")
    p.add_argument("--caches", default="none,cold,warm", help="throughput: cache modes to run")
    p.add_argument("--windows", type=int, default=6)
    p.add_argument("--encoders", default="hashing-bow,use-multilingual", help="false-alarms: encoders to run")
    p.add_argument("--fa-window", type=int, default=50)
    p.add_argument("--fa-windows", type=int, default=200)
    p.add_argument("--fa-reference", type=int, default=400)
    p.add_argument("--alpha", type=float, default=0.05)
    a = p.parse_args()
    if a.what in ("throughput", "all"):
        throughput(a)
    if a.what in ("false-alarms", "all"):
        false_alarms(a)
    if a.what in ("stats", "all"):
        stats(a)
    if a.what == "profile":
        profile(a)
    if a.what == "window":
        window(a)


if __name__ == "__main__":
    main()
