"""Where the pipeline keeps what its stages computed: one interface, one store per way of running.

:func:`mllmshift.evaluation.pipeline.evaluate` asks its store for every stage output by a key that hashes
everything the output depends on, and gives it the function that computes it:

- :meth:`Store.embedded`: one split's embeddings (key: :meth:`~mllmshift.evaluation.embedding.Encoders.key`);
- :meth:`Store.estimators`: the K fitted MI estimators (key: the fit's fingerprint,
  :func:`~mllmshift.evaluation.estimation.fit_fingerprint`);
- :meth:`Store.result`: one split's or scenario's typed result (key: the estimators, both splits' contents
  and the config's fingerprint).

A store only decides whether an output is kept and read back; the numbers are computed by the same
functions whatever the store, so ``mllmshift emid``, the study and the monitor agree. The stores:

- :class:`NullStore` (this module): keeps nothing; the Python API, ``emi``, ``emid`` and ``fit``;
- :class:`~mllmshift.study.state.SealedStore`: the study's checksummed ``OUT/.state/`` (resume, reruns);
- :class:`~mllmshift.monitor.state.WindowStore`: the monitor's state folder (the reference's estimators).

Every store counts what it computed and what it read back, and the seconds each stage took
(:class:`StageLog`, the study's ``run.stages`` record).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator

T = TypeVar("T")


@dataclass
class StageLog:
    """How many items each stage computed and how many it read from the store (for the run record)."""

    computed: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def hit(self, stage: str, cached: bool) -> None:
        d = self.cached if cached else self.computed
        d[stage] = d.get(stage, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        stages = sorted(set(self.computed) | set(self.cached) | set(self.seconds))
        return {s: {"computed": self.computed.get(s, 0), "cached": self.cached.get(s, 0),
                    "seconds": round(self.seconds.get(s, 0.0), 3)} for s in stages}


class Store:
    """The stage storage interface (see the module docstring); this base keeps nothing.

    Subclasses override :meth:`load_embedded`/:meth:`save_embedded`, :meth:`load_estimators`/
    :meth:`save_estimators` and :meth:`load_result`/:meth:`save_result`; a ``load_*`` returns None for
    "not kept, or not trustworthy" and the stage is computed (and then saved).
    """

    def __init__(self) -> None:
        self.log = StageLog()
        #: splits the caller embedded into an embedding store during this run (counted as computed there)
        self.fresh: set[str] = set()

    # ------------------------------------------------------------------ the pipeline's calls
    def embedded(self, name: str, key: str, compute: Callable[[], EmbeddedSplit]) -> EmbeddedSplit:
        """The embeddings of split ``name`` under ``key``: read back, or computed and kept."""
        got = self.load_embedded(name, key)
        cached = got is not None
        if got is None:
            got = compute()
            self.save_embedded(name, key, got)
        self.log.hit("embed", cached)
        return got

    def estimators(self, key: str, n: int, cls: type[MIEstimator],
                   compute: Callable[[], tuple[MIEstimator, ...]]) -> tuple[MIEstimator, ...]:
        """The ``n`` fitted estimators of class ``cls`` under ``key``: read back, or fitted and kept."""
        got = self.load_estimators(key, n, cls)
        cached = got is not None
        if got is None:
            got = compute()
            self.save_estimators(key, got)
        self.log.hit("estimator", cached)
        return got

    def result(self, stage: str, name: str, key: str, compute: Callable[[], T],
               from_json: Callable[[Mapping[str, Any]], T]) -> T:
        """The result of ``name`` (a split or scenario) under ``key``: read back, or computed and kept."""
        doc = self.load_result(name, key)
        if doc is not None:
            self.log.hit(stage, True)
            return from_json(doc)
        res = compute()
        self.save_result(name, key, res.to_json())  # type: ignore[attr-defined]
        self.log.hit(stage, False)
        return res

    def read_embeddings(self, name: str, read: Callable[[], EmbeddedSplit]) -> EmbeddedSplit:
        """A split read from an embedding store on disk (``--embeddings DIR`` or the Ray engine's): counted as
        read back unless the caller embedded it into that store during this run (:attr:`fresh`)."""
        e = read()
        self.log.hit("embed", name not in self.fresh)
        return e

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the block's wall time to ``stage``'s seconds."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.log.seconds[stage] = self.log.seconds.get(stage, 0.0) + time.perf_counter() - t

    # ------------------------------------------------------------------ what a kind of store overrides
    def load_embedded(self, name: str, key: str) -> EmbeddedSplit | None:
        return None

    def save_embedded(self, name: str, key: str, e: EmbeddedSplit) -> None:
        return None

    def load_estimators(self, key: str, n: int, cls: type[MIEstimator]) -> tuple[MIEstimator, ...] | None:
        return None

    def save_estimators(self, key: str, members: tuple[MIEstimator, ...]) -> None:
        return None

    def load_result(self, name: str, key: str) -> Mapping[str, Any] | None:
        return None

    def save_result(self, name: str, key: str, doc: Mapping[str, Any]) -> None:
        return None


class NullStore(Store):
    """Keeps nothing: every stage is computed (the Python API, ``emi``, ``emid``, ``fit``)."""


def save_members(members: tuple[MIEstimator, ...], paths: list[Path]) -> None:
    """Each member to its path, atomically (written under a temporary name, then renamed)."""
    for member, path in zip(members, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        member.save(tmp)
        tmp.replace(path)
