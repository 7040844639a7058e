"""The shift study: many scenarios, one estimator, correlations of EMID with its bound, and a report.

- :mod:`mllmshift.study.config`: the YAML study config;
- :mod:`mllmshift.study.plan`: splits and scenarios materialised from a config or a preset;
- :mod:`mllmshift.study.runner`: the cached, resumable stages and the output files;
- :mod:`mllmshift.study.stats`: correlations across scenarios and scenario groups;
- :mod:`mllmshift.study.presets`: ready-made scenario sets (LLaVA-Bench shift);
- :mod:`mllmshift.study.demo`: the offline demo study.
"""

from mllmshift.study.config import StudyConfig
from mllmshift.study.runner import StudyResult, run_study

__all__ = ["StudyConfig", "StudyResult", "run_study"]
