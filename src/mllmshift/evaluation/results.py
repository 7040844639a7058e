"""Typed results: one split, one scenario (a shifted split against the ID split), one study.

Results stay typed until the last moment; ``results.json``, ``scenarios.csv``, the command line's
``--json`` output and the report are views of them:

- :class:`SplitResult`: EMI of a split with its bootstrap interval, the saturation flag and each
  ensemble member's value (``emi`` is None where it cannot be computed, e.g. without references; the
  MI with the answers alone, ``mi_response``, may then still be given: it is None when ``emi`` has it);
- :class:`ScenarioResult`: the shifted split's EMI, EMID = EMI(ID) − EMI(shifted) with its interval and
  members, the bound with its four terms and its check in both forms (``bound_checks``), the answer shift
  JSD(P_Ŷ‖Q_Ŷ), the partial flag and notes, the ``flags`` (MIs above ln n, a violated bound, terms below
  resolution), and
  **sign stability**: every ensemble member gives EMID the sign of the point value *and* the interval
  excludes 0 on that side;
- :class:`StudyResult`: the ID result, the scenario results, correlations, judge scores, the config,
  seeds, versions, the CPU threads the run chose (:meth:`mllmshift.threads.ThreadChoice.to_dict`), the
  readers' warnings about data kept on request (empty answers with ``allow_empty``, a partly missing
  visual input with ``allow_mixed_visual``; each names its split) and run information.

Each has ``to_json()`` (strict JSON: non-finite numbers become null, with a reason: :mod:`mllmshift.io.strict_json`) and ``to_row()`` (one flat CSV row);
``from_json()`` reads ``to_json()`` back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mllmshift.evaluation.config import EvalConfig
from mllmshift.evaluation.summary import csv_text, summarise
from mllmshift.evaluation.views import ResultView, fmt, interval
from mllmshift.io.atomic import atomic_write_text
from mllmshift.io.strict_json import clean, dumps
from mllmshift.metrics import BoundCheck, BoundResult, EMIResult, Interval, check_bound

SCHEMA = "mllmshift-study/2"


def _interval(d: Mapping[str, Any] | None) -> Interval | None:
    return None if d is None else Interval.from_dict(d)


def _emi_json(emi: EMIResult | None, ci: Interval | None) -> dict[str, Any] | None:
    return None if emi is None else {**emi.to_dict(), "ci": None if ci is None else ci.to_dict()}


@dataclass(frozen=True, repr=False)  # the repr is ResultView's: a few lines
class SplitResult(ResultView):
    """EMI of one split (see the module docstring)."""

    name: str
    n: int
    emi: EMIResult | None
    ci: Interval | None = None
    mi_response: float | None = None

    @property
    def value(self) -> float | None:
        return None if self.emi is None else self.emi.value

    @property
    def saturated(self) -> bool:
        return self.emi is not None and self.emi.saturated

    def to_json(self) -> dict[str, Any]:
        return clean({"name": self.name, "n": self.n, "emi": _emi_json(self.emi, self.ci),
                      "mi_response": self.mi_response})

    def to_row(self) -> dict[str, Any]:
        e, ci = self.emi, self.ci
        return {"split": self.name, "n": self.n, "emi": self.value, "emi_low": None if ci is None else ci.low,
                "emi_high": None if ci is None else ci.high,
                "mi_response": self.mi_response if e is None else e.mi_response,
                "mi_reference": None if e is None else e.mi_reference, "saturated": self.saturated,
                "mi_above_limit": e is not None and e.above_data_limit}

    def _view_rows(self) -> list[dict[str, Any]]:
        return [self.to_row()]

    def _headline(self) -> str:
        if self.value is None:
            return (f"EMI({self.name}) not computable (no reference answers); I(X;Ŷ) = {fmt(self.mi_response, '.4f')}"
                    f", n = {self.n}")
        lo, hi = (None, None) if self.ci is None else (self.ci.low, self.ci.high)
        return (f"EMI({self.name}) = {fmt(self.value)}{interval(lo, hi)} nats, n = {self.n}"
                + (" (saturated: compare only splits of equal n)" if self.saturated else ""))

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SplitResult:
        block = d.get("emi")
        emi = None if block is None else EMIResult.from_dict(block)
        return cls(d["name"], int(d["n"]), emi, None if block is None else _interval(block.get("ci")),
                   d.get("mi_response"))


@dataclass(frozen=True, repr=False)  # the repr is ResultView's: a few lines
class ScenarioResult(ResultView):
    """One shifted split against the ID split (see the module docstring)."""

    name: str
    group: str | None
    kind: str
    n: int
    shifted: SplitResult
    bound: BoundResult
    emid: float | None = None
    emid_members: tuple[float, ...] = ()
    emid_ci: Interval | None = None
    jsd_response: float | None = None
    partial: bool = False
    has_reference: bool = True
    notes: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def emi(self) -> float | None:
        return self.shifted.value

    @property
    def members_agree(self) -> bool | None:
        """Whether every ensemble member gives EMID the sign of the point value (None without EMID)."""
        if self.emid is None:
            return None
        return all(m * self.emid >= 0 for m in self.emid_members)

    @property
    def bound_checks(self) -> tuple[BoundCheck, ...]:
        """EMID against the bound in both forms (:func:`~mllmshift.bound.check_bound`; the theorem's Ĥ is the one
        given, else ln n of this split); empty without an EMID."""
        return check_bound(self.emid, self.bound, self.n)

    def bound_holds(self, form: str = "scale-adjusted") -> bool | None:
        """Whether EMID ≤ the bound in ``form`` (None without an EMID or a bound)."""
        return next((c.holds for c in self.bound_checks if c.form == form), None)

    @property
    def flags(self) -> tuple[str, ...]:
        """What a reader must know before reading the numbers: MIs above ln n or at a ceiling, a bound below
        EMID, bound terms below their estimator's resolution (derived from the values, so every view agrees)."""
        out = [f"EMI: {f}" for f in (self.shifted.emi.flags if self.shifted.emi is not None else ())]
        for c in self.bound_checks:
            if not c.holds:
                scale = "" if c.entropy_scale is None else f", Ĥ = {c.entropy_scale:.3f} ({c.entropy_source})"
                out.append(f"bound violated ({c.form}{scale}): EMID {c.emid:+.4f} > bound {c.value:.4f}"
                           + ("" if c.holds_within_resolution else
                              f"; still above {c.value_high:.4f} with every term at the top of its interval"))
        for k in self.bound.below_resolution:
            out.append(f"JSD term {k} is below its estimator's resolution ({self.bound.shown(k)}), not a measured 0")
        return tuple(out)

    @property
    def sign_stable(self) -> bool | None:
        """Members agree and the interval (when there is one) excludes 0 on the point value's side."""
        if self.emid is None:
            return None
        ci_ok = self.emid_ci is None or self.emid_ci.excludes_zero_on_the_side_of(self.emid)
        return bool(self.members_agree) and ci_ok

    def to_json(self) -> dict[str, Any]:
        emid = None if self.emid is None else {
            "value": self.emid, "ci": None if self.emid_ci is None else self.emid_ci.to_dict(),
            "members": list(self.emid_members), "members_agree": self.members_agree, "sign_stable": self.sign_stable,
            "bound_checks": [c.to_dict() for c in self.bound_checks]}
        return clean({"name": self.name, "group": self.group, "kind": self.kind, "n": self.n,
                      "metadata": dict(self.metadata), "partial": self.partial, "has_reference": self.has_reference,
                      "emi": _emi_json(self.shifted.emi, self.shifted.ci), "emid": emid, "bound": self.bound.to_dict(),
                      "jsd_response": self.jsd_response, "mi_response": self.shifted.mi_response,
                      "notes": list(self.notes), "flags": list(self.flags)})

    def to_row(self) -> dict[str, Any]:
        """One flat row of ``scenarios.csv``."""
        s, b, meta = self.shifted.to_row(), self.bound, self.metadata
        ci = self.emid_ci
        return {"scenario": self.name, "group": self.group, "kind": self.kind, "n": self.n, "partial": self.partial,
                "emi": s["emi"], "emi_low": s["emi_low"], "emi_high": s["emi_high"], "emid": self.emid,
                "emid_low": None if ci is None else ci.low, "emid_high": None if ci is None else ci.high,
                "sign_stable": self.sign_stable, "bound": b.value, "bound_holds": self.bound_holds(),
                "bound_theorem_holds": self.bound_holds("theorem"), "mi_above_limit": s["mi_above_limit"],
                "jsd_visual": b.jsd_visual, "jsd_text": b.jsd_text,
                "jsd_id_output": b.jsd_id_output, "jsd_ood_output": b.jsd_ood_output,
                "jsd_response": self.jsd_response, "mi_response": s["mi_response"], "mi_reference": s["mi_reference"],
                "visual": meta.get("visual"), "severity": meta.get("severity"), "text": meta.get("text"),
                "level": meta.get("level")}

    def _view_rows(self) -> list[dict[str, Any]]:
        return [self.to_row()]

    def _headline(self) -> str:
        lo, hi = (None, None) if self.emid_ci is None else (self.emid_ci.low, self.emid_ci.high)
        stable = {True: ", sign stable", False: " (sign not stable)", None: ""}[self.sign_stable]
        return (f"{self.name}: EMID {fmt(self.emid)}{interval(lo, hi)}{stable}, EMI {fmt(self.emi)}, "
                f"bound {fmt(self.bound.value, '.4f')}, n = {self.n}")

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ScenarioResult:
        emid = d.get("emid")
        shifted = SplitResult.from_json({"name": d["name"], "n": d["n"], "emi": d.get("emi"),
                                         "mi_response": d.get("mi_response")})
        return cls(d["name"], d.get("group"), d["kind"], int(d["n"]), shifted, BoundResult.from_dict(d["bound"]),
                   None if emid is None else emid["value"],
                   () if emid is None else tuple(emid.get("members") or ()),
                   None if emid is None else _interval(emid.get("ci")), d.get("jsd_response"), bool(d["partial"]),
                   bool(d.get("has_reference", True)), tuple(d.get("notes") or ()), dict(d.get("metadata") or {}))


#: the columns of ``scenarios.csv``, in order (judge score columns follow)
CSV_FIELDS = ("scenario", "group", "kind", "n", "partial", "emi", "emi_low", "emi_high", "emid", "emid_low",
              "emid_high", "sign_stable", "bound", "bound_holds", "bound_theorem_holds", "mi_above_limit", "jsd_visual", "jsd_text", "jsd_id_output", "jsd_ood_output",
              "jsd_response", "mi_response", "mi_reference", "visual", "severity", "text", "level", "win_rate",
              "relative_score")


@dataclass(frozen=True, repr=False)  # the repr is ResultView's: a few lines
class StudyResult(ResultView):
    """The ID split against every scenario, with everything needed to reproduce it (see the module docstring).

    ``study`` holds the study-only part of the config (title, scenarios, responder, judge, correlation
    resamples, ...; empty for ``mllmshift emid`` and the Python API); ``config`` the evaluation config.
    """

    title: str
    config: EvalConfig
    id: SplitResult
    scenarios: tuple[ScenarioResult, ...]
    study: Mapping[str, Any] = field(default_factory=dict)
    correlations: Mapping[str, Any] = field(default_factory=dict)
    judge: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    seeds: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, Any] = field(default_factory=dict)
    encoders: Mapping[str, Any] = field(default_factory=dict)
    estimator: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)
    threads: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    schema: str = SCHEMA

    def scenario(self, name: str) -> ScenarioResult:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise KeyError(f"no scenario '{name}'; scenarios: {', '.join(s.name for s in self.scenarios)}")

    def rows(self) -> list[dict[str, Any]]:
        """The flat rows of ``scenarios.csv``: each scenario's :meth:`ScenarioResult.to_row` and its judge scores."""
        out = []
        for s in self.scenarios:
            row = s.to_row()
            row.update(self.judge.get(s.name, {}))
            row.setdefault("win_rate", None)
            row.setdefault("relative_score", None)
            out.append(row)
        return out

    @property
    def summary(self) -> dict[str, Any]:
        """The headline numbers (see :func:`mllmshift.evaluation.summary.summarise`), with the fingerprint of the
        estimator fit they are relative to and its fitting set (:mod:`mllmshift.evaluation.artifact`)."""
        fit_set = self.estimator.get("fit_set") or {}
        return {**summarise(self.id.value, self.rows(), self.correlations,
                          id_flags=() if self.id.emi is None else self.id.emi.flags),
                "estimator_fingerprint": self.estimator.get("fingerprint") or self.estimator.get("key"),
                "fit_set": fit_set.get("name"), "fit_set_declared": fit_set.get("declared")}

    def with_(self, **changes: Any) -> StudyResult:
        from dataclasses import replace

        return replace(self, **changes)

    def provenance(self) -> dict[str, Any]:
        """What made the numbers: the config, seeds, versions, platform, threads, encoders, estimators and data
        (with the readers' warnings about it)."""
        env = self.environment
        return clean({"config": {"eval": self.config.to_dict(), **self.study}, "seeds": self.seeds,
                      "versions": env.get("versions", {}), "python": env.get("python"), "platform": env.get("platform"),
                      "device": env.get("device"), "threads": self.threads, "encoders": self.encoders,
                      "estimator": self.estimator, "data": self.data, "warnings": list(self.warnings)})

    def to_json(self) -> dict[str, Any]:
        return clean({"schema": self.schema, "title": self.title, **self.provenance(), "id": self.id.to_json(),
                      "scenarios": [s.to_json() for s in self.scenarios], "correlations": self.correlations,
                      "judge": self.judge, "summary": self.summary, "run": self.run})

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """``to_json()`` as strict JSON, written atomically."""
        atomic_write_text(path, dumps(self.to_json(), indent=2) + "\n")

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """:meth:`rows` as CSV (:data:`CSV_FIELDS` first), written atomically."""
        atomic_write_text(path, csv_text(self.rows(), CSV_FIELDS))

    def to_row(self) -> dict[str, Any]:
        """One flat row for the whole study: its title, the ID EMI and the summary's scalar numbers."""
        scalars = {k: v for k, v in self.summary.items() if not isinstance(v, (Mapping, list))}
        return {"title": self.title, "id": self.id.name, **scalars}

    _view_lists = True  # a class attribute (no annotation), not a field

    def _view_rows(self) -> list[dict[str, Any]]:
        return self.rows()

    def _headline(self) -> str:
        summ = self.summary
        unstable = summ.get("n_sign_unstable") or 0
        return (f"{self.title or 'study'}: ID {self.id.name} EMI {fmt(self.id.value)} (n = {self.id.n}); "
                f"{len(self.scenarios)} scenario(s), mean EMID {fmt(summ.get('mean_emid'))}"
                + (f", {unstable} with an unstable sign" if unstable else ""))

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StudyResult:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} result (schema {d.get('schema')!r})")
        config = dict(d["config"])
        eval_cfg = config.pop("eval")
        return cls(title=d["title"], config=EvalConfig.from_record(eval_cfg), id=SplitResult.from_json(d["id"]),
                   scenarios=tuple(ScenarioResult.from_json(s) for s in d["scenarios"]), study=config,
                   correlations=d.get("correlations") or {}, judge=d.get("judge") or {}, seeds=d.get("seeds") or {},
                   environment={k: d.get(k) for k in ("versions", "python", "platform", "device")},
                   encoders=d.get("encoders") or {}, estimator=d.get("estimator") or {}, data=d.get("data") or {},
                   run=d.get("run") or {}, threads=d.get("threads") or {}, warnings=tuple(d.get("warnings") or ()))

