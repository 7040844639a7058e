"""Embedding throughput of the local and the Ray engine (local mode), alone and beside a busy process.

Usage::

    python benchmarks/engines.py                     # 4,000 samples, hashing-bow (no model)
    python benchmarks/engines.py --n 2000 --text-encoder use-multilingual

Each row embeds one split of n text-only samples (question, response, reference: 3n texts) into an
embedding store with no content cache, and reports texts/s as the embedding stage prints it. "busy" rows
run the same while another process spins a core. The Ray rows start a local Ray (2 CPUs) first, not
counted, and embed with ``--ray-concurrency`` actors; the difference from the local row is the engine's
overhead in local mode (scheduling, moving batches through the object store).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from default_path import Busy  # noqa: E402  (CPU-bound processes beside a row)
WORDS = "red blue green cat dog car tree house sky river boat bird road city field lamp door".split()


def rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        q = rng.sample(WORDS, 5)
        out.append({"id": str(i), "question": "what about " + " ".join(q) + " " * rng.randrange(40),
                    "response": " ".join(q[: rng.randrange(1, 5)]), "reference": " ".join(q[:3])})
    return out


def run(engine: str, n: int, text_encoder: str, concurrency: int, batch: int) -> dict:
    sys.path.insert(0, SRC)
    from mllmshift.encoders.store import EmbeddingStore
    from mllmshift.engines import EngineConfig
    from mllmshift.evaluation.config import EvalConfig
    from mllmshift.evaluation.embedding import Encoders, embed_to_store
    from mllmshift.io import read_split

    folder = Path(tempfile.mkdtemp(prefix="mllmshift-engines-"))
    data = folder / "split.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows(n, 0)))
    split = read_split(str(data))
    cfg = EvalConfig(text_encoder=text_encoder, image_encoder=None, threads=1)
    store = EmbeddingStore(folder / "store")
    if engine == "local":
        import torch

        torch.set_num_threads(1)
        t = embed_to_store(split, Encoders(cfg), None, store)
        start_s = 0.0
    else:
        import ray

        from mllmshift.engines.ray_engine import embed_with_ray, runtime_env

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
        start_s = time.perf_counter() - t0
        (t,) = embed_with_ray([split], cfg, store, EngineConfig("ray", concurrency=concurrency, batch_size=batch))
        ray.shutdown()
    return {"texts": t.texts, "seconds": t.seconds, "rate": t.texts / t.seconds, "start_s": start_s,
            "line": t.line()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--text-encoder", default="hashing-bow")
    ap.add_argument("--ray-concurrency", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--child", nargs=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run(args.child[0], args.n, args.text_encoder, args.ray_concurrency, args.batch_size)))
        return
    print(f"# config: n={args.n} text_encoder={args.text_encoder} ray_concurrency={args.ray_concurrency} "
          f"batch_size={args.batch_size} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    print("\n| engine | beside | texts | seconds | texts/s | Ray start (s) |\n|---|---|---|---|---|---|")
    for engine in ("local", "ray"):
        for busy in (False, True):
            with Busy(int(busy), limit_s=3600, warmup_s=0.0):
                out = subprocess.run([sys.executable, __file__, "--child", engine, "--n", str(args.n),
                                      "--text-encoder", args.text_encoder, "--ray-concurrency",
                                      str(args.ray_concurrency), "--batch-size", str(args.batch_size)],
                                     capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            start = f"{r['start_s']:.1f}" if engine == "ray" else ""
            print(f"| {engine} | {'a busy process' if busy else 'alone'} | {r['texts']:,} | {r['seconds']:.2f} "
                  f"| {r['rate']:,.0f} | {start} |", flush=True)


if __name__ == "__main__":
    main()
