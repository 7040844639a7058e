"""Where the pipeline's embedding step runs: ``local`` (this process, the default) or ``ray`` (Ray Data batch
inference on a local or remote Ray cluster, :mod:`mllmshift.engines.ray_engine`, the ``mllmshift[ray]`` extra).

Either way the embeddings end in an :class:`~mllmshift.encoders.store.EmbeddingStore` or in memory, and are
scored by the same streaming estimators and metrics (:mod:`mllmshift.evaluation.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mllmshift.evaluation.config import ConfigError

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
            raise ConfigError(f"unknown engine {self.name!r}; choose from {', '.join(ENGINES)}", field="engine")
        for key in ("concurrency", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"must be an integer >= 1, got {value!r}", field=f"engine.{key}")
