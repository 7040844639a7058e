"""Images per second of every corruption at 224 px and 1024 px, ours vs ``imagecorruptions`` 1.1.2.

Usage: ``python benchmarks/shifts.py [--severity 3] [--sizes 224 1024] [--budget 2.0] [--json out.json]``

Each cell applies the corruption to the astronaut photograph of scikit-image
(resized to S×S, RGB) repeatedly, for at least one call and until ``--budget``
seconds have passed (at most ``--max-reps`` calls), and reports calls per
second. The reference runs through :func:`mllmshift.shifts.image.reference.load_reference`
(needs ``opencv-python-headless`` and ``imagecorruptions==1.1.2 --no-deps``);
a cell where it raises shows the error. Configuration and versions are
printed above the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

import numpy as np


def _rate(fn: Any, budget: float, max_reps: int) -> float:
    n, t0 = 0, time.perf_counter()
    while True:
        fn(n)
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= budget or n >= max_reps:
            return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--severity", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 1024])
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per cell (at least one call)")
    ap.add_argument("--max-reps", type=int, default=50)
    ap.add_argument("--only", nargs="*", help="corruptions to run (default: all)")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    from importlib import metadata

    from PIL import Image
    from skimage import data

    from mllmshift.shifts import image_corruptions
    from mllmshift.shifts.image import CORRUPTIONS

    ref = None
    ref_note = "not run"
    if not args.no_reference:
        try:
            from mllmshift.shifts.image.reference import load_reference

            ref = load_reference()
            ref_note = f"imagecorruptions {metadata.version('imagecorruptions')}"
        except Exception as err:  # noqa: BLE001 - reported in the header
            ref_note = f"unavailable ({err})"
    versions = {p: metadata.version(p) for p in ("numpy", "scipy", "pillow", "scikit-image")}
    config = {"severity": args.severity, "sizes": args.sizes, "budget_s": args.budget, "max_reps": args.max_reps,
              "image": "skimage.data.astronaut, resized (bicubic) to S×S", "seed": "call index (0, 1, ...)",
              "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "torch_threads": "n/a", "versions": versions, "reference": ref_note}
    print("# mllmshift shift benchmark")
    print(json.dumps(config, indent=1))
    names = args.only or list(CORRUPTIONS)
    rows = []
    for name in names:
        row: dict[str, Any] = {"corruption": name}
        corr = image_corruptions.create(name, severity=args.severity)
        for size in args.sizes:
            img = Image.fromarray(data.astronaut()).resize((size, size), Image.BICUBIC)
            row[f"ours_{size}"] = _rate(lambda i: corr.apply(img, seed=i), args.budget, args.max_reps)
            if ref is not None:
                fn = getattr(ref, name)

                def call(i: int, fn: Any = fn, img: Any = img) -> Any:
                    np.random.seed(i)
                    return np.uint8(np.asarray(fn(img, args.severity)))

                try:
                    row[f"ref_{size}"] = _rate(call, args.budget, args.max_reps)
                except Exception as err:  # noqa: BLE001 - shown in the table
                    row[f"ref_{size}"] = f"fails: {type(err).__name__}"
        rows.append(row)
        print(f"  done {name}", flush=True)

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v) if v is not None else "–"

    head = ["corruption"] + [f"{who} {s}px" for s in args.sizes for who in ("ours", "ref")]
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["corruption"]] + [fmt(r.get(f"{who}_{s}")) for s in args.sizes for who in ("ours", "ref")]
        print("| " + " | ".join(cells) + " |")
    print("\nimages per second, one process, severity", args.severity)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"config": config, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
