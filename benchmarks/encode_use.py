"""USE multilingual's embedding stage: the package's plain ``encode`` (one call per batch, BLAS on t threads)
against this project's workers (t worker threads of one BLAS thread each, ``encode_on_workers``).

One command (about 2 minutes on an idle 2-core machine; run with ``nice -n 10`` beside other work)::

    python benchmarks/encode_use.py --data ../shared/data

Texts: the distinct ``prompt`` and ``text`` fields of ``<data>/llavabench-shift/responses/*/*.jsonl`` in
sorted-file, line order (the LLaVA questions and responses a study embeds), the first ``--texts``. Both paths
run through :meth:`Encoder.encode` with ``--batch-size`` texts per call on one loaded model. Each cell is the
run of least wall time of ``--repeats`` rounds, the rows taking turns within a round so a burst of other load
hits all alike; CPU is this process's CPU time (all threads) in that run, steadier than wall on a shared
machine. Prints a Markdown table, the largest difference between the two paths' unit rows, the load average
before and after, and a JSON line with the configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout  # noqa: E402


def llava_texts(data: Path, n: int) -> list[str]:
    """The first ``n`` distinct questions and responses of the LLaVA-Bench shift responses."""
    files = sorted((data / "llavabench-shift" / "responses").glob("*/*.jsonl"))
    if not files:
        raise SystemExit(f"no responses under {data / 'llavabench-shift' / 'responses'} (--data)")
    seen: dict[str, None] = {}
    for f in files:
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    for key in ("prompt", "text"):
                        if isinstance(row.get(key), str):
                            seen.setdefault(row[key], None)
    return list(seen)[:n]


def plain_encoder(threads: int, batch_size: int, model: Any) -> Any:
    """The encoder as it was before the workers (commit 2051980): the package's ``encode`` per batch, its
    BLAS limit set to the encoder's thread count."""
    from mllmshift.encoders.base import check_texts
    from mllmshift.encoders.use_multilingual import USEMultilingual

    class PlainUSE(USEMultilingual):
        def _encode_batch(self, items: Sequence[Any]) -> Any:
            import numpy as np

            texts = check_texts(items, self.name)
            self.model._model.threads = self.thread_count()
            return np.asarray(self.model.encode(texts), dtype=np.float32).reshape(len(texts), self.dim)

    enc = PlainUSE(threads=threads, batch_size=batch_size)
    enc._model = model
    return enc


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--texts", type=int, default=3000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    use_checkout(max(args.threads))

    import numpy as np

    from mllmshift.encoders.use_multilingual import USEMultilingual

    texts = llava_texts(args.data, args.texts)
    model = USEMultilingual(threads=1).model
    encoders: dict[tuple[str, int], Any] = {}
    for t in args.threads:
        encoders["plain encode", t] = plain_encoder(t, args.batch_size, model)
        new = USEMultilingual(threads=t, batch_size=args.batch_size)
        new._model = model
        encoders["workers", t] = new
    load_start = os.getloadavg()
    for enc in encoders.values():  # load + warm up
        enc.encode(texts[:64])
    best: dict[tuple[str, int], tuple[float, float]] = {k: (float("inf"), float("inf")) for k in encoders}
    out: dict[tuple[str, int], Any] = {}
    for _ in range(args.repeats):
        for key, enc in encoders.items():
            t0, c0 = time.perf_counter(), time.process_time()
            out[key] = enc.encode(texts)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if wall < best[key][0]:
                best[key] = (wall, cpu)
    ref = out["plain encode", args.threads[0]]
    diff = max(float(np.abs(rows - ref).max()) for rows in out.values())
    load_end = os.getloadavg()

    print(f"`python benchmarks/encode_use.py --data {args.data} --texts {len(texts)}`, batch size "
          f"{args.batch_size}, best of {args.repeats}; load average {load_start[0]:.2f} at start, "
          f"{load_end[0]:.2f} at end\n")
    print("| path | threads | texts/s | wall (s) | CPU (s) | wall vs plain, same threads |")
    print("|---|---:|---:|---:|---:|---:|")
    for (path, t), (wall, cpu) in best.items():
        ratio = wall / best["plain encode", t][0]
        print(f"| {path} | {t} | {len(texts) / wall:,.0f} | {wall:.2f} | {cpu:.2f} | {ratio:.2f}× |")
    print(f"\nlargest |difference| of any row from plain encode at {args.threads[0]} thread(s): {diff:.1e}")
    config = {"texts": len(texts), "batch_size": args.batch_size, "repeats": args.repeats,
              "threads": args.threads, "cpu_count": os.cpu_count(), "load_start": load_start[0],
              "load_end": load_end[0], "max_abs_diff": diff, "numpy": np.__version__,
              "encoder": USEMultilingual().config()}
    print(json.dumps(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
