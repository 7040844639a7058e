"""What is evaluated: the in-distribution split against shifted scenarios.

A :class:`ScenarioSpec` is one shifted split with what the tables need to know about it: its group
(``visual``, ``text`` or ``joint``; None when nothing tells), where it comes from (``kind``), descriptive
metadata (``visual``/``severity``/``text``/``level``, ...) and caveats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mllmshift.records import Split
from mllmshift.vocab import GROUPS, group_of


@dataclass(frozen=True)
class ScenarioSpec:
    """One shifted scenario.

    Attributes:
        name: unique scenario name (a file-name-safe string).
        split: its samples (responses may still be missing; a responder fills them in).
        group: ``visual``, ``text`` or ``joint`` (None: unknown, e.g. an arbitrary file name on ``emid``).
        kind: where it comes from (``synthetic``, ``natural``, ``grid``, ``file``).
        metadata: descriptive fields shown in tables (``visual``/``severity``/``text``/``level``, ...).
        notes: caveats shown next to the scenario in the report.
    """

    name: str
    split: Split
    group: str | None
    kind: str = "file"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.group is not None and self.group not in GROUPS:
            raise ValueError(f"scenario '{self.name}': group must be one of {GROUPS}, got {self.group!r}")


def scenario_of(split: Split, kind: str = "file") -> ScenarioSpec:
    """A scenario named after its split, its group read from the name where the name tells."""
    try:
        group: str | None = group_of(split.name)
    except ValueError:
        group = None
    return ScenarioSpec(split.name, split, group, kind)
