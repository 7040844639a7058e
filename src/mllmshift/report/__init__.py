"""Study reports: plots (PNG), ``report.md`` and a self-contained ``report.html``."""

from __future__ import annotations

from typing import Any


def write_report(results: Any, out: Any) -> Any:
    """Write the plots, report.md and report.html of a study (see :mod:`mllmshift.report.study_report`)."""
    from mllmshift.report.study_report import write_report as _write

    return _write(results, out)


__all__ = ["write_report"]
