"""The shift study: many scenarios, one estimator, correlations of EMID with its bound, and a report.

- :mod:`mllmshift.study.config`: the YAML study config (it contains the evaluation config);
- :mod:`mllmshift.study.plan`: splits and scenarios materialised from a config or a preset;
- :mod:`mllmshift.study.state`: the resumable on-disk state, ``OUT/.state/``;
- :mod:`mllmshift.study.stages`: the cached stages over the evaluation pipeline;
- :mod:`mllmshift.study.runner`: the orchestration and the output files;
- :mod:`mllmshift.study.stats`: correlations across scenarios;
- :mod:`mllmshift.study.presets`: ready-made scenario sets (LLaVA-Bench shift);
- :mod:`mllmshift.study.demo`: the offline demo study.
"""

from mllmshift.evaluation.results import StudyResult
from mllmshift.study.config import StudyConfig
from mllmshift.study.runner import StudyRun, run_study

__all__ = ["StudyConfig", "StudyResult", "StudyRun", "run_study"]
