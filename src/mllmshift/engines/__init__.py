"""Where the pipeline's embedding step runs: ``local`` (this process, the default) or ``ray`` (Ray Data batch
inference on a local or remote Ray cluster, :mod:`mllmshift.engines.ray_engine`, the ``mllmshift[ray]`` extra).

Either way the embeddings end in an :class:`~mllmshift.encoders.store.EmbeddingStore` or in memory, and are
scored by the same streaming estimators and metrics (:mod:`mllmshift.evaluation.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineConfig:
    """``name`` (``local`` or ``ray``); for Ray, the cluster ``address`` (None: start a local Ray; ``auto``: the
    cluster this machine belongs to; ``ray://host:10001``: a remote one), how many embedding actors
    (``concurrency``) and rows per inference batch (``batch_size``)."""

    name: str = "local"
    address: str | None = None
    concurrency: int = 1
    batch_size: int = 256
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}; choose from {', '.join(ENGINES)}")
        if self.concurrency < 1 or self.batch_size < 1:
            raise ValueError("engine concurrency and batch_size must be at least 1")
