"""A study plan: the in-distribution split and the shifted scenarios, as materialised splits.

:func:`plan_from_config` turns a :class:`~mllmshift.study.config.StudyConfig`
into a :class:`StudyPlan`: it reads the ID split and every scenario file,
expands folders, applies shift grids to the ID split (through
:func:`mllmshift.shifts.grid.apply_grid`, materialised once under the study's
state folder) and asks presets for their scenario sets. Everything after
this step sees only :class:`~mllmshift.records.Split` objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError, MllmshiftError
from mllmshift.evaluation.checks import check_splits
from mllmshift.records import Split
from mllmshift.study.config import ScenarioSource, SplitSource, StudyConfig
from mllmshift.evaluation.samples import split_fingerprint
from mllmshift.evaluation.scenarios import ScenarioSpec
from mllmshift.vocab import group_of


@dataclass(frozen=True)
class StudyPlan:
    """The ID split, the scenarios and study-wide notes (e.g. which stand-ins were used)."""

    id_split: Split
    scenarios: tuple[ScenarioSpec, ...]
    notes: tuple[str, ...] = ()
    responder_label: str | None = None

    def __post_init__(self) -> None:
        from mllmshift.evaluation.samples import safe_name
        from mllmshift.evaluation.scenarios import check_scenario_count

        check_scenario_count(len(self.scenarios), "scenarios")
        names = [s.name for s in self.scenarios]
        files: dict[str, str] = {}
        for n in dict.fromkeys([self.id_split.name, *names]):  # one file per name: a/b and a_b would share a_b.jsonl
            other = files.setdefault(safe_name(n), n)
            if other != n:
                raise MllmshiftError(f"scenarios '{other}' and '{n}' would share the file {safe_name(n)}.jsonl of "
                                     "the per-sample logs and the state; rename one")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise MllmshiftError(f"scenario names must be unique; repeated: {', '.join(dup)}")
        if self.id_split.name in names:
            raise MllmshiftError(f"scenario '{self.id_split.name}' has the name of the ID split")
        if not self.scenarios:
            raise MllmshiftError("a study needs at least one shifted scenario")


_SHIFT_RE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_\-]*?)(?:[@:_\-](?P<level>\d+))?$")


def describe_shift(value: Any) -> tuple[str | None, int | None]:
    """``(shift name, severity or level)`` from a grid's visual/text entry (tuple, mapping or ``"frost@3"``)."""
    if value is None or value == "":
        return None, None
    if isinstance(value, (tuple, list)) and value:  # a grid Scenario's (corruption, severity)
        level = value[1] if len(value) > 1 else None
        return str(value[0]), (None if level is None else int(level))
    if isinstance(value, Mapping):
        name = value.get("name") or value.get("kind")
        level = value.get("severity", value.get("level"))
        return (None if name is None else str(name)), (None if level is None else int(level))
    m = _SHIFT_RE.match(str(value))
    if not m:
        return str(value), None
    return m.group("name"), None if m.group("level") is None else int(m.group("level"))


def _read(src: SplitSource | ScenarioSource, path: str, name: str | None) -> Split:
    from mllmshift.io import read_split

    return read_split(path, format=src.format, name=name, **dict(src.options))


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """``(scenario name, file)``: ``*.jsonl`` files of the folder, and ``*/samples.jsonl`` (grid output layout)."""
    if not folder.is_dir():
        raise DataError("scenario folder not found", path=folder)
    out = [(p.stem, p) for p in sorted(folder.glob("*.jsonl"))]
    out += [(p.parent.name, p) for p in sorted(folder.glob("*/samples.jsonl"))]
    if not out:
        raise DataError("no *.jsonl files and no */samples.jsonl in the folder", path=folder)
    return out


def _file_scenario(name: str, split: Split, src: ScenarioSource, where: str, field: str) -> ScenarioSpec:
    try:
        group = src.group or group_of({"name": name, **dict(src.metadata)})
    except ValueError as err:
        raise DataError(f"{err}", path=where, field=f"{field}.group") from None
    meta = dict(src.metadata)
    if group in ("visual", "text"):  # "frost_3" → visual frost at severity 3 (for the severity heatmap)
        kind, level = describe_shift(name)
        key, lkey = ("visual", "severity") if group == "visual" else ("text", "level")
        if kind is not None and level is not None:
            meta.setdefault(key, kind)
            meta.setdefault(lkey, level)
    return ScenarioSpec(name, split.renamed(name), group, "file", meta)


def grid_scenarios(grid: Any, id_split: Split, state_dir: Path, seed: int | None = None) -> list[ScenarioSpec]:
    """Apply a shift grid (a YAML path or a mapping) to the ID split, once; responses are dropped.

    The shifted inputs are written under ``state_dir/grid/<key>/`` by
    :func:`mllmshift.shifts.grid.apply_grid` (with the grid's own seed unless ``seed`` is given); a
    later run finds them finished there instead of recomputing. The responses of the ID split do not answer the shifted inputs, so they are
    removed: a responder must answer every grid scenario.
    """
    from mllmshift.io import read_canonical
    from mllmshift.provenance import stable_hash
    from mllmshift.shifts.grid import GridSpec, apply_grid

    spec = GridSpec.from_dict(dict(grid)) if isinstance(grid, Mapping) else GridSpec.from_yaml(grid)
    scen = [s for s in spec.scenarios() if s.visual or s.text]
    from mllmshift.evaluation.scenarios import check_scenario_count

    check_scenario_count(len(scen), "grid")
    blank = id_split.map(lambda s: s.with_(response=None))
    key = stable_hash([spec.to_dict(), split_fingerprint(blank), seed])
    # apply_grid skips the scenarios it has finished and resumes an interrupted one
    written = apply_grid(spec, blank, state_dir / "grid" / key, seed=seed)
    paths = {k: (Path(v) / "samples.jsonl" if Path(v).is_dir() else Path(v)) for k, v in written.items()}
    specs = []
    for s in scen:
        if s.name not in paths:
            continue
        split = read_canonical(paths[s.name], name=s.name).map(lambda x: x.with_(response=None))
        v_name, v_sev = describe_shift(s.visual)
        t_name, t_lvl = describe_shift(s.text)
        meta = {"visual": v_name, "severity": v_sev, "text": t_name, "level": t_lvl}
        specs.append(ScenarioSpec(s.name, split, group_of({"visual": s.visual, "text": s.text}), "grid", meta))
    return specs


def plan_from_config(cfg: StudyConfig, state_dir: Path) -> StudyPlan:
    """Read, expand and materialise every split the config names (see the module docstring)."""
    id_split: Split | None = None
    scenarios: list[ScenarioSpec] = []
    notes: list[str] = []
    label = None
    if cfg.preset is not None:
        from mllmshift.study.presets import presets

        plan = presets.create(cfg.preset.name, **dict(cfg.preset.options))
        id_split, notes, label = plan.id_split, list(plan.notes), plan.responder_label
        scenarios.extend(plan.scenarios)
    if cfg.id is not None:
        id_split = _read(cfg.id, cfg.id.path, cfg.id.name)
    if id_split is None:
        raise MllmshiftError("no ID split: give 'id' or a preset")
    where = cfg.source or "config"
    # the ID split on its own, and grids without a responder, before any grid is materialised
    check_splits(id_split, [], cfg.eval, responder=cfg.responder is not None)
    for i, src in enumerate(cfg.scenarios):
        if src.grid is not None and cfg.responder is None:
            raise DataError("a shift grid makes new inputs that nobody has answered: give the config a "
                            "'responder' (e.g. {name: baseline})", path=where, field=f"scenarios[{i}].grid")
    for i, src in enumerate(cfg.scenarios):
        if src.path is not None:
            name = src.name or Path(src.path).stem
            scenarios.append(_file_scenario(name, _read(src, src.path, name), src, where, f"scenarios[{i}]"))
        elif src.folder is not None:
            id_path = None if cfg.id is None else Path(cfg.id.path).resolve()
            for name, path in _folder_files(Path(src.folder)):
                if path.resolve() == id_path:  # the ID file may sit among the scenarios
                    continue
                scenarios.append(_file_scenario(name, _read(src, str(path), name), src, where, f"scenarios[{i}]"))
        else:
            scenarios.extend(grid_scenarios(src.grid, id_split, state_dir, None))
    return StudyPlan(id_split, tuple(scenarios), tuple(notes), label)
