"""mllmshift: how much a multimodal LLM degrades under distribution shift, and why.

Implements effective mutual information (EMI), its difference across an
in-distribution and a shifted split (EMID) and the EMID upper bound of
Oh et al., "Understanding Multimodal LLMs Under Distribution Shifts: An
Information-Theoretic Approach" (ICML 2025, arXiv 2502.00577).

The package is organised as the pipeline it runs::

    records -> shifts -> responders -> encoders -> estimators -> metrics -> evaluation -> study -> report

The one-call API: :func:`evaluate` (ID split against shifted splits) and :func:`emi` (one split), returning
the typed results :class:`StudyResult` / :class:`SplitResult` (see :mod:`mllmshift.api`).
"""

from __future__ import annotations

from typing import Any

from mllmshift.records import Sample, Split

__version__ = "0.1.0"

_LAZY = {"evaluate": "mllmshift.api", "emi": "mllmshift.api", "fit": "mllmshift.api",
         "EvalConfig": "mllmshift.evaluation.config",
         "Component": "mllmshift.components", "StudyResult": "mllmshift.evaluation.results",
         "ScenarioResult": "mllmshift.evaluation.results", "SplitResult": "mllmshift.evaluation.results"}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (``import mllmshift`` stays light for the command line)."""
    if name in _LAZY:
        import importlib

        return vars(importlib.import_module(_LAZY[name]))[name]
    raise AttributeError(f"module 'mllmshift' has no attribute {name!r}")


__all__ = ["Sample", "Split", "__version__", "evaluate", "emi", "fit", "EvalConfig", "Component", "StudyResult",
           "ScenarioResult", "SplitResult"]
