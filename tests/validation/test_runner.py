"""Runner and report: rows, resuming, error rows, grid limits, aggregation by hand, Markdown, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mllmshift.validation import runner as runner_mod
from mllmshift.validation.presets import ci, full, preset
from mllmshift.validation.report import aggregate, markdown
from mllmshift.validation.runner import EstimatorSpec, Grid, read_rows, run_grid
from mllmshift.validation.suite import run_suite


def _grid(**kw) -> Grid:
    specs = (EstimatorSpec("gauss", "mi", "gaussian"), EstimatorSpec("ksg5", "mi", "ksg", {"k": 5}),
             EstimatorSpec("rjsd", "jsd", "rjsd"), EstimatorSpec("mmd", "test", "mmd", {"n_permutations": 19}))
    base = dict(estimators=specs, mi_tasks=("normal-1x1",), jsd_tasks=("orthogonal-16in64",), ns=(60,),
                seeds=(0, 1))
    base.update(kw)
    return Grid(**base)


def test_runs_every_cell_and_rows_are_exact(tmp_path):
    rows = run_grid(_grid(), tmp_path / "runs.csv", progress=False)
    assert len(rows) == 8
    assert {r["status"] for r in rows} == {"ok"}
    jsd = [r for r in rows if r["estimator"] == "rjsd"]
    # orthogonal supports: linear RJSD is exactly ln 2 (closed form)
    assert all(r["estimate"] == pytest.approx(math.log(2), abs=1e-9) for r in jsd)
    # the data of (task, n, seed) are the same for every estimator: recompute one estimate by hand
    from mllmshift.estimators.mi.gaussian import GaussianMI
    from mllmshift.provenance import derive_seed
    from mllmshift.validation.mi_tasks import mi_tasks

    x, y = mi_tasks()["normal-1x1"].sample(60, np.random.default_rng(derive_seed(1, "data", "normal-1x1", 60)))
    g = next(r for r in rows if r["estimator"] == "gauss" and r["seed"] == 1)
    assert g["estimate"] == GaussianMI().mi(x, y)
    assert next(r for r in rows if r["estimator"] == "mmd")["p_value"] == pytest.approx(1 / 20)


def test_resume_runs_only_what_is_missing(tmp_path, monkeypatch):
    path = tmp_path / "runs.csv"
    run_grid(_grid(seeds=(0,)), path, progress=False)
    calls = []
    real = runner_mod.run_one

    def spy(spec, *args):
        calls.append((spec.label, args[3]))
        return real(spec, *args)

    monkeypatch.setattr(runner_mod, "run_one", spy)
    rows = run_grid(_grid(seeds=(0, 1)), path, progress=False)
    assert sorted(calls) == [("gauss", 1), ("ksg5", 1), ("mmd", 1), ("rjsd", 1)]
    assert len(rows) == 8


def test_a_failing_estimator_is_recorded_not_fatal(tmp_path):
    bad = EstimatorSpec("singular", "mi", "gaussian", {"shrinkage": 0.0})
    grid = Grid((bad,), ("normal-dense-25x25",), (), (20,), (0,))  # n < d: singular
    (row,) = run_grid(grid, tmp_path / "runs.csv", progress=False)
    assert row["status"].startswith("error: ValueError") and "singular" in row["status"]
    assert math.isnan(row["estimate"])
    (summary,) = aggregate([row])
    assert summary["runs"] == 0 and summary["failed"] == 1


def test_limits_skip_and_thin_seeds():
    spec = EstimatorSpec("k", "mi", "ksg", max_n_by_dim=((10, 1000), (100, 0)), seeds_by_n=((1000, 3),))
    seeds = (0, 1, 2, 3, 4)
    assert spec.seeds_for(2, 10_000, seeds) == (0, 1, 2)
    assert spec.seeds_for(2, 100, seeds) == seeds
    assert spec.seeds_for(50, 10_000, seeds) == ()
    assert spec.seeds_for(50, 1000, seeds) == (0, 1, 2)
    assert spec.seeds_for(1536, 100, seeds) == ()
    with pytest.raises(ValueError, match="kind"):
        EstimatorSpec("x", "entropy", "ksg")
    with pytest.raises(ValueError, match="unknown tasks"):
        _grid(mi_tasks=("normal-3x3",))
    with pytest.raises(ValueError, match="unique"):
        _grid(estimators=(EstimatorSpec("a", "mi", "ksg"), EstimatorSpec("a", "mi", "gaussian")))


def test_aggregate_by_hand_and_markdown():
    rows = [dict(kind="mi", estimator="e", task="t", n=10, seed=s, truth=1.0, estimate=v, p_value=math.nan,
                 seconds=2.0, status="ok") for s, v in enumerate([0.8, 1.0, 1.5])]
    rows.append(dict(kind="test", estimator="m", task="u", n=10, seed=0, truth=0.5, estimate=0.1, p_value=0.01,
                     seconds=1.0, status="ok"))
    rows.append(dict(kind="test", estimator="m", task="u", n=10, seed=1, truth=0.5, estimate=0.0, p_value=0.4,
                     seconds=1.0, status="ok"))
    s = {r["estimator"]: r for r in aggregate(rows)}
    e = s["e"]
    assert e["mean"] == pytest.approx(1.1) and e["bias"] == pytest.approx(0.1)
    assert e["std"] == pytest.approx(np.std([0.8, 1.0, 1.5], ddof=1))
    assert e["rmse"] == pytest.approx(math.sqrt((0.04 + 0 + 0.25) / 3))
    assert s["m"]["rejection_rate"] == 0.5 and math.isnan(s["m"]["bias"])
    md = markdown(list(s.values()))
    assert "| t | 1.000 | 1.10 ± 0.36 |" in md
    assert "50% rej." in md


def test_suite_writes_every_file_and_presets_are_valid(tmp_path):
    run_suite(_grid(seeds=(0,)), tmp_path, label="tiny", progress=False, make_plot=True)
    for f in ("validation_runs.csv", "validation.csv", "validation.md", "validation.png", "validation.json"):
        assert (tmp_path / f).is_file(), f
    assert len(read_rows(tmp_path / "validation_runs.csv")) == 4
    assert ci().n_runs() < full().n_runs()
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_cli_validate_and_list(tmp_path, capsys):
    from mllmshift.cli.main import main

    assert main(["estimators", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("club-sampled", "infonce", "rjsd-rff", "classifier-jsd", "mmd"):
        assert name in out
    rc = main(["estimators", "validate", "--preset", "ci", "--estimators", "gaussian,rjsd", "--tasks",
               "normal-1x1,identical-5d", "--n", "50", "--seeds", "1", "--out", str(tmp_path), "--quiet",
               "--no-plot"])
    assert rc == 0
    rows = read_rows(tmp_path / "validation_runs.csv")
    assert sorted((r["estimator"], r["task"]) for r in rows) == [("gaussian", "normal-1x1"),
                                                                  ("rjsd", "identical-5d")]
    assert main(["estimators", "validate", "--estimators", "nope", "--out", str(tmp_path)]) == 1
    assert "unknown estimators" in capsys.readouterr().err
