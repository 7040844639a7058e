"""The Ray engine: embed splits with the registered encoders as Ray Data batch inference, into an embedding store.

The driver reads each split with mllmshift's own readers (same validation, ids and content fingerprints as
the local engine), hands its rows to Ray Data, and :class:`Embedder` actors (``concurrency`` of them, each
building the configured encoders once, on the configured device) embed ``batch_size`` rows at a time
through :func:`mllmshift.encoders.pipeline.embed_split`, the local engine's function. The driver streams
the embedded batches back in row order into an :class:`~mllmshift.encoders.store.EmbeddingStore`, and the
scoring that follows is the local pipeline reading that store (:func:`mllmshift.evaluation.pipeline.evaluate`
with ``store=``), so results equal the local engine's on the same data. Nothing is distributed by hand: Ray
Data schedules the actors, moves the batches and applies back-pressure.

Needs the ``ray`` extra (``pip install "mllmshift[ray]"``). ``address`` None starts a local Ray (which is
shut down after); ``"auto"`` or ``"ray://head:10001"`` joins an existing cluster (docs/scale.md).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.encoders.store import EmbeddingStore
from mllmshift.engines import EngineConfig
from mllmshift.errors import DataError, MissingDependencyError
from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.embedding import Encoders, Throughput, split_fusion
from mllmshift.records import Sample, Split

_FIELDS = ("x_visual", "x_text", "response", "reference")


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("the Ray engine", "ray", "ray") from err
    return ray


@contextlib.contextmanager
def ray_session(engine: EngineConfig, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, initialised for ``engine`` (reusing a running one); a Ray started here is shut down after."""
    ray = _ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "runtime_env": runtime_env()}
        if engine.address is not None:
            kwargs["address"] = engine.address
        elif num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        try:
            ray.init(**kwargs)
        except ValueError as err:  # e.g. a ray:// address without the ray[client] extra
            if "ray[client]" in str(err):
                raise MissingDependencyError(f"the Ray client address {engine.address}", "ray[client]",
                                             "ray") from None
            raise DataError(f"cannot start or reach Ray: {err}", field="--ray-address") from None
        except ConnectionError as err:
            raise DataError(f"cannot reach the Ray cluster at {engine.address}: {err}",
                            field="--ray-address") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


class Embedder:
    """A Ray Data actor: the configured encoders, built once; a batch of rows in, their embeddings out."""

    def __init__(self, cfg: dict[str, Any], fusion: str, cache_dir: str | None) -> None:
        from mllmshift.evaluation.embedding import open_cache
        from mllmshift.evaluation.pipeline import run_threads

        self.cfg = EvalConfig.from_dict(cfg)
        self.encoders, self.fusion, self.cache = Encoders(self.cfg), fusion, open_cache(cache_dir)
        self.threads = run_threads(self.cfg)  # chosen once per actor, on the worker's CPUs and load

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        from mllmshift.devices import using_device
        from mllmshift.encoders.pipeline import embed_split
        from mllmshift.threads import thread_limits

        samples = [Sample(**json.loads(str(text))) for text in batch["sample"]]
        split = Split("batch", samples)
        with thread_limits(self.threads), using_device(self.cfg.device):
            image = self.encoders.image if split.has_images else None
            e = embed_split(split, self.encoders.text, image, fusion=self.fusion, cache=self.cache)
        out: dict[str, Any] = {"row": batch["row"], "visual_source": np.array([e.metadata["visual_source"] or ""]
                                                                               * len(samples))}
        for f in _FIELDS:
            a = getattr(e, f)
            out[f] = a if a is not None else np.zeros((len(samples), 0), dtype=np.float32)
        return out


def runtime_env() -> dict[str, Any]:
    """The Ray job's runtime environment: this process's mllmshift package shipped to the workers (Ray's
    ``py_modules``), so they run the driver's code whether or not (or whichever version of) mllmshift is
    installed on the cluster. :func:`ray_session` passes it to ``ray.init``; pass it yourself when you
    initialise Ray before calling the engine."""
    import mllmshift

    return {"py_modules": [str(Path(mllmshift.__file__).parent)]}


def embed_with_ray(splits: Sequence[Split], cfg: EvalConfig, store: EmbeddingStore, engine: EngineConfig, *,
                   cache_dir: str | None = None, num_cpus: int | None = None) -> list[Throughput]:
    """Embed every split into ``store`` with Ray Data (see the module docstring); one throughput line per split."""
    import time

    encoders = Encoders(cfg)
    out = []
    with ray_session(engine, num_cpus) as ray:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        for split in splits:
            t0 = time.perf_counter()
            # a sample travels as its canonical JSON (a missing field stays missing, whatever Arrow makes of None)
            rows = [{"row": i, "sample": json.dumps(s.to_dict())} for i, s in enumerate(split.samples)]
            ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // engine.batch_size)))
            embedded = ds.map_batches(Embedder, batch_size=engine.batch_size, concurrency=engine.concurrency,
                                      batch_format="numpy",
                                      fn_constructor_kwargs={"cfg": cfg.to_dict(), "fusion": split_fusion(split, cfg),
                                                             "cache_dir": cache_dir})
            writer = store.writer(split.name)
            texts = images = 0
            for batch in embedded.iter_batches(batch_size=engine.batch_size * 4, batch_format="numpy"):
                part = _chunk(split, batch, encoders)
                writer.append(part)
                k_texts, k_images = Throughput.items(part)
                texts, images = texts + k_texts, images + k_images
            writer.close(encoders.key(split))
            out.append(Throughput(split.name, texts, images, time.perf_counter() - t0))
    return out


def _chunk(split: Split, batch: dict[str, np.ndarray], encoders: Encoders) -> Any:
    """An embedded chunk of ``split`` from an output batch (rows in split order)."""
    from mllmshift.embeddings import EmbeddedSplit
    from mllmshift.encoders.pipeline import encoder_record

    rows = batch["row"]
    if np.any(np.diff(rows) != 1):
        raise RuntimeError("Ray Data returned rows out of order despite preserve_order")
    arrays = {f: (batch[f] if batch[f].shape[1] else None) for f in _FIELDS}
    source = str(batch["visual_source"][0]) or None
    meta = {"text_encoder": encoder_record(encoders.text),
            "image_encoder": encoder_record(encoders.image) if source == "image" else None,
            "visual_source": source, "fusion_requested": split_fusion(split, encoders.cfg)}
    return EmbeddedSplit(split.name, tuple(split.samples[int(r)].id for r in rows), arrays["x_text"],
                         arrays["x_text"], arrays["response"], arrays["reference"], arrays["x_visual"], meta)
