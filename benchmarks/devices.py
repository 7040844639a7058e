"""The GPU's speed-up over the CPU for the three stages issue #12 names: an encoder, CLUB training, scoring.

Usage::

    python benchmarks/devices.py                      # cpu, and cuda where torch sees one
    python benchmarks/devices.py --score-n 1000000    # score two splits of 1,000,000 × 768 (≈ 12 GB on disk)

Rows, each in a fresh subprocess on each device (``--device``, i.e. :func:`mllmshift.devices.using_device`):

- **encoder**: EfficientNet-Lite0 on ``--images`` 640 × 480 JPEGs (``benchmarks/image_decoding.py``'s), batch
  size 32, decoding overlapped with the forward pass; images/s after a warm-up batch;
- **CLUB training**: the paper's CLUB (hidden 500) fitted for ``--epochs`` epochs (no early stop) on
  ``--train-n`` random pairs at d = 768; seconds per epoch;
- **scoring**: EMI + EMID + the bound (linear RJSD) on two splits of ``--score-n`` rows read from .npy files
  in chunks (``benchmarks/scale.py``'s inputs and code), CLUB given.

A device torch does not see gets the row "not measured: no GPU available" instead of a number.
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
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "src")
sys.path.insert(0, HERE)
from image_decoding import make_images  # noqa: E402
from scale import child_stream, write_inputs  # noqa: E402


def child(stage: str, device: str, args: argparse.Namespace, folder: str) -> dict:
    sys.path.insert(0, SRC)
    import numpy as np
    import torch

    from mllmshift.devices import using_device

    torch.set_num_threads(args.threads)
    with using_device(device):
        if stage == "encoder":
            from mllmshift.encoders import encoders

            paths = sorted(str(p) for p in Path(folder).glob("*.jpg"))
            enc = encoders.create("efficientnet-lite0", batch_size=32, threads=args.threads)
            enc.encode(paths[:32])
            t0 = time.perf_counter()
            enc.encode(paths)
            s = time.perf_counter() - t0
            return {"value": len(paths) / s, "unit": "images/s", "seconds": s}
        if stage == "club":
            from mllmshift.estimators.mi.club import CLUB

            g = np.random.default_rng(0)
            x = g.standard_normal((args.train_n, 768), dtype=np.float32)
            y = (0.5 * x + g.standard_normal((args.train_n, 768), dtype=np.float32)).astype(np.float32)
            est = CLUB(768, 768, hidden_size=500, max_epochs=args.epochs, val_fraction=0.0, seed=0)
            t0 = time.perf_counter()
            est.fit(x, y)
            s = time.perf_counter() - t0
            return {"value": s / args.epochs, "unit": "s/epoch", "seconds": s}
        r = child_stream(folder, 768, 0, 0, args.threads)
        return {"value": r["total_s"], "unit": "s", "seconds": r["total_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--train-n", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--score-n", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args, args.child[2])))
        return
    import torch

    devices = ["cpu", "cuda"]
    cuda = torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(0) if cuda else "none"
    print(f"# config: images={args.images} train_n={args.train_n} epochs={args.epochs} score_n={args.score_n} "
          f"threads={args.threads} cpus={os.cpu_count()} gpu={gpu} load={os.getloadavg()[0]:.1f}")
    print("\n| stage | size | cpu | cuda | speed-up |\n|---|---|---|---|---|")
    stages = (("encoder", f"{args.images} JPEGs 640×480, efficientnet-lite0"),
              ("club", f"CLUB hidden 500, n = {args.train_n:,}, d = 768"),
              ("score", f"EMI + EMID + bound, 2 × {args.score_n:,} × 768 from disk"))
    for stage, size in stages:
        folder = tempfile.mkdtemp(prefix=f"mllmshift-devices-{stage}-")
        try:
            if stage == "encoder":
                make_images(Path(folder), args.images)
            elif stage == "score":
                write_inputs(folder, args.score_n, 768, 0)
            got = {}
            for device in devices:
                if device == "cuda" and not cuda:
                    continue
                out = subprocess.run([sys.executable, __file__, "--child", stage, device, folder, "--images",
                                      str(args.images), "--train-n", str(args.train_n), "--epochs", str(args.epochs),
                                      "--threads", str(args.threads)], capture_output=True, text=True, check=True)
                got[device] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        cell = lambda r: f"{r['value']:,.2f} {r['unit']}"  # noqa: E731
        if "cuda" not in got:
            print(f"| {stage} | {size} | {cell(got['cpu'])} | not measured: no GPU available | |", flush=True)
            continue
        speed = got["cpu"]["seconds"] / got["cuda"]["seconds"]  # the same work on both
        print(f"| {stage} | {size} | {cell(got['cpu'])} | {cell(got['cuda'])} | {speed:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
