"""Throughput of the default offline encoders on this machine: items per second.

Usage::

    python benchmarks/encoders.py                      # USE on 256 texts, EfficientNet on 64 images
    python benchmarks/encoders.py --texts 512 --images 128 --batch-sizes 8 32 64 --repeats 5

- USE multilingual v3 (``use-multilingual``, numpy, ``--threads`` BLAS threads, default ``os.cpu_count()``)
  on synthetic English questions of 8–24 words drawn with ``--seed``;
- EfficientNet-Lite0 (``efficientnet-lite0``, torch on CPU, ``--threads`` threads) on random
  224 × 224 RGB images drawn with ``--seed`` (the full per-image path: resize to 256,
  center-crop 224, normalise, forward).

The model is loaded and warmed up on one batch before timing; each cell is the
best of ``--repeats`` passes over the items (least disturbed by other load on
the machine), the batch sizes taking turns within each round. No cache is
involved. Prints a Markdown table and a JSON line with the configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

WORDS = ("what is the man in the red shirt holding near the kitchen table while a small dog waits by door "
         "how many people are standing on street corner describe picture detail color of car parked "
         "outside building why might this be unusual for city at night").split()


def texts(n: int, seed: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(8, 25)))).capitalize() + "?" for _ in range(n)]


def images(n: int, seed: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(n)]


def best_rates(encoder: Any, items: Sequence[Any], batch_sizes: Sequence[int], repeats: int) -> dict[int, float]:
    """Items/s of ``encoder.encode(items)`` per batch size: best of ``repeats`` rounds.

    Rounds go over all batch sizes in turn, so a burst of load from other
    processes hits every batch size alike instead of one of them.
    """
    encoder.encode(items[: min(8, len(items))])  # load + warm up
    best = {bs: float("inf") for bs in batch_sizes}
    for _ in range(repeats):
        for bs in batch_sizes:
            encoder.batch_size = bs
            t0 = time.perf_counter()
            encoder.encode(items)
            best[bs] = min(best[bs], time.perf_counter() - t0)
    return {bs: len(items) / t for bs, t in best.items()}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS threads for USE and torch threads for EfficientNet (default: os.cpu_count())")
    args = ap.parse_args(argv)

    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)

    from mllmshift.encoders.efficientnet import EfficientNetLite0
    from mllmshift.encoders.use_multilingual import USEMultilingual

    text_items, image_items = texts(args.texts, args.seed), images(args.images, args.seed)
    use = USEMultilingual(threads=threads)
    net = EfficientNetLite0(device="cpu")
    text_rates = best_rates(use, text_items, args.batch_sizes, args.repeats)
    image_rates = best_rates(net, image_items, args.batch_sizes, args.repeats)
    rows = [(bs, text_rates[bs], image_rates[bs]) for bs in args.batch_sizes]

    print("| batch size | USE multilingual v3 (texts/s) | EfficientNet-Lite0, 224 px (images/s) |")
    print("|---:|---:|---:|")
    for bs, t, i in rows:
        print(f"| {bs} | {t:,.0f} | {i:,.1f} |")
    config = {"texts": args.texts, "images": args.images, "repeats": args.repeats, "seed": args.seed,
              "use_threads": use.threads, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
              "machine": platform.machine(), "processor": platform.processor() or platform.platform(),
              "python": platform.python_version(), "torch": torch.__version__, "numpy": __import__("numpy").__version__,
              "encoders": {"use-multilingual": use.config(), "efficientnet-lite0": net.config()}}
    print(json.dumps(config, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
