"""Images/s of the image encoder with decoding overlapped with the forward pass, and without, alone and beside a
busy process.

Usage::

    python benchmarks/image_decoding.py                 # 64 JPEGs of 640 × 480 (COCO's size), efficientnet-lite0
    python benchmarks/image_decoding.py --n 128 --batch-size 16 --threads 2

The images are made from scikit-image's sample photographs (resized and cropped to 640 × 480, saved as
JPEG in a temporary folder, deleted after). Each row encodes them all with no cache, ``--threads`` torch
threads, in a fresh subprocess (a warm-up batch first, not counted); "overlap" decodes batch k+1 (read,
resize, crop, normalise: :meth:`EfficientNetLite0.decode_batch`) in a second thread while batch k runs
through the network (``Encoder.overlap_decode``, the default for image encoders), "sequential" decodes
then forwards each batch in turn. "busy" rows run beside another process spinning a core. The decoding
column is the CPU time of decoding every batch once more, alone: the most that overlapping can hide, and
only when a second core is free.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from default_path import Busy  # noqa: E402  (CPU-bound processes beside a row)


def make_images(folder: Path, n: int) -> list[str]:
    import numpy as np
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        im = Image.fromarray(photos[i % len(photos)]).convert("RGB")
        scale = 640 / min(im.size) * (1 + 0.5 * rng.random())
        im = im.resize((max(640, round(im.width * scale)), max(480, round(im.height * scale))), Image.BICUBIC)
        left, top = int(rng.integers(0, im.width - 640 + 1)), int(rng.integers(0, im.height - 480 + 1))
        path = folder / f"{i:04d}.jpg"
        im.crop((left, top, left + 640, top + 480)).save(path, quality=90)
        paths.append(str(path))
    return paths


def child(folder: str, overlap: bool, batch: int, threads: int) -> dict:
    sys.path.insert(0, SRC)
    import torch

    from mllmshift.encoders import encoders

    torch.set_num_threads(threads)
    paths = sorted(str(p) for p in Path(folder).glob("*.jpg"))
    enc = encoders.create("efficientnet-lite0", device="cpu", batch_size=batch, threads=threads)
    enc.overlap_decode = overlap
    enc.encode(paths[:batch])  # warm-up: builds the network
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    enc.encode(paths)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    seconds = time.perf_counter() - t0
    d0 = time.thread_time()
    for start in range(0, len(paths), batch):  # decoding alone, in this thread: what overlapping can hide
        enc.decode_batch(paths[start : start + batch])
    return {"images": len(paths), "seconds": seconds, "rate": len(paths) / seconds,
            "cpu_s": (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime), "decode_cpu_s": time.thread_time() - d0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1] == "overlap", args.batch_size, args.threads)))
        return
    folder = Path(tempfile.mkdtemp(prefix="mllmshift-images-"))
    try:
        make_images(folder, args.n)
        print(f"# config: n={args.n} images 640x480 JPEG, efficientnet-lite0, batch_size={args.batch_size} "
              f"threads={args.threads} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
        print("\n| decoding | beside | images | seconds | images/s | CPU s | of which decoding (CPU s) | load avg |\n"
              "|---|---|---|---|---|---|---|---|")
        for busy in (False, True):
            for mode in ("sequential", "overlap"):
                with Busy(int(busy), limit_s=3600, warmup_s=0.0):
                    out = subprocess.run([sys.executable, __file__, "--child", str(folder), mode, "--batch-size",
                                          str(args.batch_size), "--threads", str(args.threads)],
                                         capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"| {mode} | {'a busy process' if busy else 'alone'} | {r['images']} | {r['seconds']:.2f} | "
                      f"{r['rate']:.1f} | {r['cpu_s']:.1f} | {r['decode_cpu_s']:.2f} | {os.getloadavg()[0]:.1f} |",
                      flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
