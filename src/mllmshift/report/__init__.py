"""Study reports from typed results (:class:`~mllmshift.evaluation.results.StudyResult`): plots (PNG),
``report.md`` and a self-contained ``report.html``."""

from __future__ import annotations

from mllmshift.report.study_report import write_report

__all__ = ["write_report"]
