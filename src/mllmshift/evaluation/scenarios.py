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


#: scenario lists above this length are refused; above WARN_SCENARIOS they warn of the cost (each scenario is a
#: split to embed, score and bootstrap; the studies measured hold tens to a few hundred)
MAX_SCENARIOS = 10_000
WARN_SCENARIOS = 1_000


def check_scenario_count(n: int, field: str) -> None:
    """Refuse more than :data:`MAX_SCENARIOS` scenarios (a :class:`~mllmshift.errors.DataError` naming ``field``);
    warn above :data:`WARN_SCENARIOS`."""
    from mllmshift.errors import DataError, MllmshiftWarning

    if n > MAX_SCENARIOS:
        raise DataError(f"{n:,} scenarios is beyond what the tool is built for (at most {MAX_SCENARIOS:,}); split "
                        "the grid into several runs", field=field)
    if n > WARN_SCENARIOS:
        import warnings

        warnings.warn(MllmshiftWarning(f"{n:,} scenarios: each is a split to write, embed and score; more than "
                                       f"{WARN_SCENARIOS:,} is far beyond what was measured"), stacklevel=2)


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
