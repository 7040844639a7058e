"""Where a study's splits come from: the ``id:`` and ``scenarios:`` entries of a study config (also a monitor
config's ``reference:``), as parsed, before anything is read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mllmshift.io.readers import SplitSource

__all__ = ["SplitSource", "ScenarioSource"]


@dataclass(frozen=True)
class ScenarioSource:
    """One entry of ``scenarios``: exactly one of ``path``, ``folder`` or ``grid`` is set."""

    path: str | None = None
    folder: str | None = None
    grid: Any = None  # a path to a grid YAML, or an inline mapping
    name: str | None = None
    group: str | None = None
    format: str = "auto"
    options: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitSource:
    """``fit``: the declared fitting set: the estimator is fitted once on these splits' pairs (``mllmshift fit``'s
    step) and every scenario is evaluated with it; ``name`` names it in results (default: the split names)."""

    splits: tuple[SplitSource, ...]
    name: str | None = None
