"""Run a validation grid into a folder: runs CSV (resumable), summary CSV, Markdown, plot, and the config.

Files written under ``out_dir``:

- ``validation_runs.csv``: one row per (estimator, task, n, seed); reruns resume from it.
- ``validation.csv``: the per-(estimator, task, n) summary (:mod:`.report`).
- ``validation.md``: the Markdown tables.
- ``validation.png``: mean estimate against truth.
- ``validation.json``: the grid (estimators with their options, tasks, n, seeds), the
  task truths, and the environment, so every number can be reproduced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mllmshift.io.atomic import atomic_write_text
from mllmshift.provenance import environment
from mllmshift.validation.jsd_tasks import jsd_tasks
from mllmshift.validation.mi_tasks import mi_tasks
from mllmshift.validation.report import aggregate, markdown, plot, write_summary_csv
from mllmshift.validation.runner import Grid, read_rows, run_grid, select
from mllmshift.io.strict_json import dumps as strict_dumps


def run_suite(grid: Grid, out_dir: str | Path, label: str = "custom", progress: bool = True,
              make_plot: bool = True) -> list[dict[str, Any]]:
    """Run (or resume) ``grid`` and write every output file; returns the summary rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truths = {"mi": {t: mi_tasks()[t].true_mi for t in grid.mi_tasks},
              "jsd": {t: jsd_tasks()[t].true_jsd for t in grid.jsd_tasks}}
    meta = {"preset": label, "grid": grid.to_dict(), "truths": truths,
            "data_seed": "derive_seed(seed, 'data', task, n)", **environment()}
    atomic_write_text(out / "validation.json", strict_dumps(meta, indent=2, default=str) + "\n")
    run_grid(grid, out / "validation_runs.csv", progress=progress)
    return write_reports(grid, out, label, make_plot)


def write_reports(grid: Grid, out: Path, label: str, make_plot: bool = True) -> list[dict[str, Any]]:
    """(Re)write summary CSV, Markdown and plot from the runs CSV."""
    rows = select(read_rows(out / "validation_runs.csv"), grid)
    summary = aggregate(rows)
    write_summary_csv(summary, out / "validation.csv")
    header = (f"# Estimator validation ({label})\n\n"
              "Mean ± standard deviation over seeds of each estimate (nats); every MI estimator is fitted and "
              "evaluated on the same sample of n pairs; JSD estimators get n points from each distribution. "
              "`·` = not run (see the preset's limits), `fail` = every run raised. MMD cells: the share of "
              "seeds where the permutation test rejects P = Q at 5 % (mean MMD²). Config: `validation.json`; "
              "per-run rows: `validation_runs.csv`; summary: `validation.csv`.\n\n")
    atomic_write_text(out / "validation.md", header + markdown(summary))
    if make_plot and summary:
        plot(summary, out / "validation.png")
    return summary

