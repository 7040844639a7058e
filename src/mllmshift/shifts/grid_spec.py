"""The grid's declaration: visual shifts × text shifts × severities, expanded to named scenarios.

A grid (YAML or dict)::

    dataset: llava_bench_coco
    seed: 0
    combine: [visual, text, joint]      # which kinds of scenario to make
    visual:
      - {corruption: defocus_blur, severities: [1, 3, 5]}
      - {corruption: frost, severities: [1, 3, 5]}
    text:
      - {perturbation: synonym, name: sr, levels: [4, 7], params: {style: eda}}
      - {perturbation: keyboard, name: KeyboardAug, levels: [1, 3]}

expands, with the paper's naming, to ``<dataset>_<visual>_<severity>`` (visual
only), ``<dataset>_<text>_<level>`` (text only; ``<dataset>_<text>`` for a shift
without levels, e.g. a translation) and ``<dataset>_<visual>_<severity>_<text>_<level>``
(joint), e.g. ``llava_bench_coco_defocus_blur_3_sr_4``. ``preset("paper-synthetic")``
is the grid above: the paper's 34 synthetic scenarios. :mod:`mllmshift.shifts.grid` writes a grid's scenarios.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.images import DEFAULT_MAX_PIXELS
from mllmshift.io.yaml_strict import YamlDocument, load_yaml
from mllmshift.shifts.base import ImageCorruption, TextPerturbation
from mllmshift.vocab import COMBINATIONS

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _frozen(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class VisualShift:
    """One image corruption at some severities; ``name`` labels it in scenario names (default: the corruption)."""

    corruption: str
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "severities", tuple(self.severities))
        object.__setattr__(self, "params", _frozen(self.params))

    @property
    def label(self) -> str:
        return self.name or self.corruption


@dataclass(frozen=True)
class TextShift:
    """One text perturbation at some levels (``(None,)`` for a shift without levels)."""

    perturbation: str
    levels: tuple[int | None, ...] = (1,)
    name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        object.__setattr__(self, "params", _frozen(self.params))

    @property
    def label(self) -> str:
        return self.name or self.perturbation


@dataclass(frozen=True)
class Scenario:
    """A named shifted scenario: an optional ``(corruption, severity)`` and an optional ``(perturbation, level)``."""

    name: str
    visual: tuple[str, int] | None = None
    text: tuple[str, int | None] | None = None
    visual_params: Mapping[str, Any] = field(default_factory=dict)
    text_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "visual_params", _frozen(self.visual_params))
        object.__setattr__(self, "text_params", _frozen(self.text_params))

    def corruption(self, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageCorruption | None:
        from mllmshift.shifts import image_corruptions

        if self.visual is None:
            return None
        name, severity = self.visual
        return image_corruptions.create(name, severity=severity, max_pixels=max_pixels, **self.visual_params)

    def perturbation(self, *, translator: Any = None) -> TextPerturbation | None:
        from mllmshift.shifts import text_perturbations

        if self.text is None:
            return None
        name, level = self.text
        kw = dict(self.text_params)
        if translator is not None and name == "translate":
            kw["translator"] = translator
        return text_perturbations.create(name, level=level, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "visual": list(self.visual) if self.visual else None,
                "text": list(self.text) if self.text else None, "visual_params": dict(self.visual_params),
                "text_params": {k: v for k, v in self.text_params.items() if k != "translator"}}


def _err(msg: str, path: str | os.PathLike[str] | YamlDocument | None, fld: str) -> DataError:
    """A located error: with a parsed YAML document as ``path``, the field's line is named too."""
    if isinstance(path, YamlDocument):
        return path.error(msg, fld)
    return DataError(msg, path=path, field=fld)


def _int_list(value: Any, path: Any, fld: str, allow_none: bool = False) -> tuple[Any, ...]:
    if value is None and allow_none:
        return (None,)
    items = value if isinstance(value, list) else [value]
    out = []
    for v in items:
        if v is None and allow_none:
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, int):
            raise _err(f"expected integers, got {v!r}", path, fld)
        else:
            out.append(v)
    if not out:
        raise _err("empty list", path, fld)
    return tuple(out)


def _check_keys(obj: Any, allowed: set[str], path: Any, fld: str) -> None:
    if not isinstance(obj, Mapping):
        raise _err(f"expected a mapping, got {type(obj).__name__}", path, fld)
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _err(f"unknown key(s) {unknown}; allowed: {sorted(allowed)}", path, fld)


@dataclass(frozen=True)
class GridSpec:
    """A declarative grid of visual × text shifts over one dataset (see the module docstring)."""

    dataset: str
    visual: tuple[VisualShift, ...] = ()
    text: tuple[TextShift, ...] = ()
    combine: tuple[str, ...] = COMBINATIONS
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "visual", tuple(self.visual))
        object.__setattr__(self, "text", tuple(self.text))
        object.__setattr__(self, "combine", tuple(self.combine))

    # -------------------------------------------------------------------------------------- parsing

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, path: str | os.PathLike[str] | None = None,
                  lines: Mapping[str, int] | None = None) -> GridSpec:
        """Parse and validate a grid; errors name the file, the field (``visual[1].severities``) and, with
        ``lines`` (field path → line, from :func:`mllmshift.io.yaml_strict.load_yaml`), its line."""
        from mllmshift.shifts import image_corruptions, text_perturbations

        if lines is not None:
            path = YamlDocument(d, lines, None if path is None else str(path))  # type: ignore[assignment]

        _check_keys(d, {"dataset", "visual", "text", "combine", "seed"}, path, "(top level)")
        dataset = d.get("dataset")
        if not isinstance(dataset, str) or not _NAME_RE.match(dataset):
            raise _err(f"a name of letters, digits, '_', '-', '.' is required, got {dataset!r}", path, "dataset")
        seed = d.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise _err(f"expected a non-negative integer, got {seed!r}", path, "seed")
        combine = d.get("combine", list(COMBINATIONS))
        combine = [combine] if isinstance(combine, str) else combine
        if not isinstance(combine, list) or not combine or any(c not in COMBINATIONS for c in combine):
            raise _err(f"expected a list drawn from {list(COMBINATIONS)}, got {combine!r}", path, "combine")
        visual = []
        for i, v in enumerate(d.get("visual") or []):
            fld = f"visual[{i}]"
            _check_keys(v, {"corruption", "severities", "name", "params"}, path, fld)
            corr = v.get("corruption")
            if corr not in image_corruptions:
                raise _err(f"unknown corruption {corr!r}; known: {', '.join(image_corruptions.names())}",
                           path, f"{fld}.corruption")
            sev = _int_list(v.get("severities", [1, 2, 3, 4, 5]), path, f"{fld}.severities")
            if any(s not in (1, 2, 3, 4, 5) for s in sev):
                raise _err(f"severities must be 1..5, got {list(sev)}", path, f"{fld}.severities")
            vs = VisualShift(corr, sev, v.get("name"), v.get("params") or {})
            try:
                image_corruptions.create(corr, severity=sev[0], **vs.params)
            except (TypeError, ValueError) as err:
                raise _err(str(err), path, f"{fld}.params") from None
            visual.append(vs)
        text = []
        for i, t in enumerate(d.get("text") or []):
            fld = f"text[{i}]"
            _check_keys(t, {"perturbation", "levels", "name", "params"}, path, fld)
            pert = t.get("perturbation")
            if pert not in text_perturbations:
                raise _err(f"unknown perturbation {pert!r}; known: {', '.join(text_perturbations.names())}",
                           path, f"{fld}.perturbation")
            levelled = text_perturbations.get(pert).levelled
            levels = _int_list(t.get("levels", [1] if levelled else None), path, f"{fld}.levels", allow_none=True)
            if levelled and any(lv is None or lv < 0 for lv in levels):
                raise _err(f"levels must be non-negative integers, got {list(levels)}", path, f"{fld}.levels")
            ts = TextShift(pert, levels, t.get("name"), t.get("params") or {})
            if not levelled and ts.name is None and "language" in ts.params:
                ts = TextShift(pert, levels, str(ts.params["language"]), ts.params)
            try:
                text_perturbations.create(pert, level=levels[0], **ts.params)
            except (TypeError, ValueError) as err:
                raise _err(str(err), path, f"{fld}.params") from None
            text.append(ts)
        for fld, shifts in (("visual", visual), ("text", text)):
            for i, s in enumerate(shifts):
                if not _NAME_RE.match(s.label):
                    raise _err(f"name {s.label!r} is not usable in a folder name", path, f"{fld}[{i}].name")
        spec = cls(dataset, tuple(visual), tuple(text), tuple(combine), seed)
        names = [s.name for s in spec.scenarios()]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _err(f"scenario names collide: {dup}; give the shifts distinct 'name's", path, "(top level)")
        return spec

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> GridSpec:
        """Read a grid file strictly (UTF-8, no duplicate keys: :mod:`mllmshift.io.yaml_strict`)."""
        doc = load_yaml(path, "grid file")
        return cls.from_dict(doc.data, path=path, lines=doc.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "seed": self.seed, "combine": list(self.combine),
            "visual": [{"corruption": v.corruption, "severities": list(v.severities), "name": v.name,
                        "params": dict(v.params)} for v in self.visual],
            "text": [{"perturbation": t.perturbation, "levels": list(t.levels), "name": t.name,
                      "params": {k: val for k, val in t.params.items() if k != "translator"}} for t in self.text],
        }

    # -------------------------------------------------------------------------------------- expansion

    def scenarios(self) -> list[Scenario]:
        """All scenarios, visual-only first, then text-only, then joint (each in spec order)."""
        vis = [(f"{v.label}_{s}", (v.corruption, s), v.params) for v in self.visual for s in v.severities]
        txt = [(t.label if lv is None else f"{t.label}_{lv}", (t.perturbation, lv), t.params)
               for t in self.text for lv in t.levels]
        out: list[Scenario] = []
        if "visual" in self.combine:
            out += [Scenario(f"{self.dataset}_{vn}", vv, None, vp) for vn, vv, vp in vis]
        if "text" in self.combine:
            out += [Scenario(f"{self.dataset}_{tn}", None, tt, {}, tp) for tn, tt, tp in txt]
        if "joint" in self.combine:
            out += [Scenario(f"{self.dataset}_{vn}_{tn}", vv, tt, vp, tp) for vn, vv, vp in vis for tn, tt, tp in txt]
        return out


# ------------------------------------------------------------------------------------------------ presets

PRESETS: dict[str, dict[str, Any]] = {
    "paper-synthetic": {
        "dataset": "llava_bench_coco",
        "seed": 0,
        "combine": ["visual", "text", "joint"],
        "visual": [{"corruption": "defocus_blur", "severities": [1, 3, 5]},
                   {"corruption": "frost", "severities": [1, 3, 5]}],
        "text": [{"perturbation": "synonym", "name": "sr", "levels": [4, 7], "params": {"style": "eda"}},
                 {"perturbation": "keyboard", "name": "KeyboardAug", "levels": [1, 3]}],
    },
    "paper-translation": {
        "dataset": "llava_bench_coco",
        "seed": 0,
        "combine": ["text"],
        "text": [{"perturbation": "translate", "name": lang, "levels": None,
                  "params": {"language": lang, "append": "Please answer in English."}}
                 for lang in ("German", "Chinese", "Korean", "Greek", "Arabic", "Hindi")],
    },
}


def preset(name: str) -> GridSpec:
    """A named grid: ``paper-synthetic`` (the paper's 34 synthetic scenarios) or ``paper-translation``
    (its 6 translated-question scenarios; needs a translator at :func:`apply_grid` time)."""
    if name not in PRESETS:
        raise DataError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}", field="preset")
    return GridSpec.from_dict(PRESETS[name])


# ------------------------------------------------------------------------------------------------ writing
