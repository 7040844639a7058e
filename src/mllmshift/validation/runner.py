"""Run estimators on ground-truth tasks: every (estimator, task, n, seed), resumably, one CSV row each.

For a task, a sample size n and a seed, the data are drawn once from a
generator seeded with ``derive_seed(seed, "data", task, n)`` and shared by every
estimator (paired comparisons). An MI estimator is created with that seed,
fitted on the sample and evaluated on the *same* sample (as EMI uses a fitted
estimator); a JSD estimator gets one sample of n from P and one of n from Q.
Wall time covers fit + estimate. A run that raises is recorded with its error
and a NaN estimate instead of stopping the grid. Rows are appended to the CSV
as they finish, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.provenance import derive_seed
from mllmshift.validation.jsd_tasks import jsd_tasks
from mllmshift.validation.mi_tasks import mi_tasks

KINDS = ("mi", "jsd", "test")
COLUMNS = ("kind", "estimator", "task", "n", "seed", "truth", "estimate", "p_value", "seconds", "status")


@dataclass(frozen=True)
class EstimatorSpec:
    """One estimator configuration of the grid.

    Attributes:
        label: the name in tables (unique in a grid).
        kind: ``mi`` (an MI estimator), ``jsd`` (a divergence estimator) or ``test`` (a two-sample test).
        name: its registry name.
        options: constructor options (besides dims and seed).
        max_n_by_dim: ``((dim, n_max), ...)``: on tasks whose total dimension exceeds ``dim``,
            run only sample sizes ≤ ``n_max`` (0 = skip the task). Keeps slow estimators affordable.
        seeds_by_n: ``((n, k), ...)``: at sample sizes ≥ ``n`` use only the first ``k`` seeds.
    """

    label: str
    kind: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    max_n_by_dim: tuple[tuple[int, int], ...] = ()
    seeds_by_n: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def seeds_for(self, total_dim: int, n: int, seeds: tuple[int, ...]) -> tuple[int, ...]:
        """The seeds this estimator runs at (task dimension, n); empty to skip."""
        for dim, n_max in self.max_n_by_dim:
            if total_dim > dim and n > n_max:
                return ()
        k = len(seeds)
        for n_min, k_max in self.seeds_by_n:
            if n >= n_min:
                k = min(k, k_max)
        return seeds[:k]

    def build(self, seed: int, x_dim: int | None = None, y_dim: int | None = None) -> Any:
        from mllmshift.estimators import divergence_estimators, mi_estimators, two_sample_tests

        if self.kind == "mi":  # every registered class is built the same way (estimators.base)
            return mi_estimators.get(self.name)(x_dim, y_dim, seed=seed, **self.options)
        registry = divergence_estimators if self.kind == "jsd" else two_sample_tests
        return registry.get(self.name)(seed=seed, **self.options)  # type: ignore[call-arg]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "name": self.name, "options": dict(self.options),
                "max_n_by_dim": [list(t) for t in self.max_n_by_dim],
                "seeds_by_n": [list(t) for t in self.seeds_by_n]}


@dataclass(frozen=True)
class Grid:
    """Estimators × tasks × sample sizes × seeds."""

    estimators: tuple[EstimatorSpec, ...]
    mi_tasks: tuple[str, ...]
    jsd_tasks: tuple[str, ...]
    ns: tuple[int, ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        labels = [e.label for e in self.estimators]
        if len(set(labels)) != len(labels):
            raise ValueError(f"estimator labels must be unique, got {labels}")
        unknown = (set(self.mi_tasks) - set(mi_tasks())) | (set(self.jsd_tasks) - set(jsd_tasks()))
        if unknown:
            raise ValueError(f"unknown tasks {sorted(unknown)}; known MI tasks: {sorted(mi_tasks())}; "
                             f"JSD tasks: {sorted(jsd_tasks())}")

    def to_dict(self) -> dict[str, Any]:
        return {"estimators": [e.to_dict() for e in self.estimators], "mi_tasks": list(self.mi_tasks),
                "jsd_tasks": list(self.jsd_tasks), "ns": list(self.ns), "seeds": list(self.seeds)}

    def jobs(self) -> Iterator[tuple[str, str, int, int, list[EstimatorSpec]]]:
        """(kind, task, n, seed, estimators) in the order they run."""
        mi_all, jsd_all = mi_tasks(), jsd_tasks()
        for task_name in self.mi_tasks:
            t = mi_all[task_name]
            yield from self._jobs("mi", task_name, t.x_dim + t.y_dim, ("mi",))
        for task_name in self.jsd_tasks:
            yield from self._jobs("jsd", task_name, jsd_all[task_name].dim, ("jsd", "test"))

    def _jobs(self, kind: str, task: str, dim: int, kinds: tuple[str, ...]) -> Iterator[Any]:
        for n in self.ns:
            for seed in self.seeds:
                specs = [e for e in self.estimators if e.kind in kinds and seed in e.seeds_for(dim, n, self.seeds)]
                if specs:
                    yield kind, task, n, seed, specs

    def n_runs(self) -> int:
        return sum(len(j[4]) for j in self.jobs())


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a runs CSV with numbers parsed (missing file: no rows)."""
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            row: dict[str, Any] = dict(r)
            for k in ("n", "seed"):
                row[k] = int(row[k])
            for k in ("truth", "estimate", "p_value", "seconds"):
                row[k] = float(row[k]) if row[k] not in ("", None) else math.nan
            rows.append(row)
    return rows


def _key(kind: str, estimator: str, task: str, n: int, seed: int) -> tuple[Any, ...]:
    return (kind if kind != "test" else "jsd", estimator, task, int(n), int(seed))


def run_grid(grid: Grid, runs_csv: str | Path, progress: bool = True) -> list[dict[str, Any]]:
    """Run every missing (estimator, task, n, seed) of ``grid``, appending rows to ``runs_csv``; all rows back."""
    path = Path(runs_csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(r["kind"], r["estimator"], r["task"], r["n"], r["seed"]) for r in read_rows(path)}
    total = grid.n_runs()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="validate", unit="run")
    mi_all, jsd_all = mi_tasks(), jsd_tasks()
    new_file = not path.is_file() or path.stat().st_size == 0
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new_file:
            writer.writeheader()
        for kind, task_name, n, seed, specs in grid.jobs():
            todo = [s for s in specs if _key(kind, s.label, task_name, n, seed) not in done]
            if bar is not None:
                bar.update(len(specs) - len(todo))
            if not todo:
                continue
            rng = np.random.default_rng(derive_seed(seed, "data", task_name, n))
            if kind == "mi":
                mt = mi_all[task_name]
                x, y = mt.sample(n, rng)
                truth = mt.true_mi
            else:
                jt = jsd_all[task_name]
                x, y = jt.sample_p(n, rng), jt.sample_q(n, rng)
                truth = jt.true_jsd
            for spec in todo:
                if bar is not None:
                    bar.set_postfix_str(f"{spec.label} {task_name} n={n} seed={seed}")
                row = run_one(spec, kind, task_name, n, seed, truth, x, y)
                writer.writerow(row)
                fh.flush()
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return read_rows(path)


def run_one(spec: EstimatorSpec, kind: str, task: str, n: int, seed: int, truth: float, x: np.ndarray,
            y: np.ndarray) -> dict[str, Any]:
    """One run: build, fit/estimate, time; errors become a row with status ``error: ...``."""
    row: dict[str, Any] = {"kind": spec.kind, "estimator": spec.label, "task": task, "n": n, "seed": seed,
                           "truth": truth, "estimate": math.nan, "p_value": "", "seconds": math.nan,
                           "status": "ok"}
    start = time.perf_counter()
    try:
        if spec.kind == "mi":
            est = spec.build(seed, x.shape[1], y.shape[1])
            est.fit(x, y)
            row["estimate"] = float(est.mi(x, y))
        elif spec.kind == "jsd":
            row["estimate"] = float(spec.build(seed).divergence(x, y))
        else:
            res = spec.build(seed).test(x, y)
            row["estimate"], row["p_value"] = res.statistic, res.p_value
    except Exception as err:  # recorded, so one failing configuration does not stop the grid
        row["status"] = f"error: {type(err).__name__}: {err}".replace("\n", " ")[:300]
    row["seconds"] = time.perf_counter() - start
    return row


def select(rows: Iterable[dict[str, Any]], grid: Grid) -> list[dict[str, Any]]:
    """The rows that belong to ``grid``, limits included (a runs CSV may hold more)."""
    wanted = {(spec.label, task, n, seed) for _, task, n, seed, specs in grid.jobs() for spec in specs}
    return [r for r in rows if (r["estimator"], r["task"], r["n"], r["seed"]) in wanted]
