"""Mutual-information and divergence estimators, behind one registry each.

>>> from mllmshift.estimators import mi_estimators, divergence_estimators
>>> club = mi_estimators.create("club", x_dim=8, y_dim=8)   # doctest: +SKIP
"""

from mllmshift.estimators.base import DivergenceEstimator, EstimatorOptionError, MIEstimator, TwoSampleTest
from mllmshift.estimators.registries import divergence_estimators, mi_estimators, two_sample_tests

# The defaults and why (docs/estimators.md, "Defaults by evidence"); see mllmshift.estimators.defaults.
from mllmshift.estimators.defaults import (
    DEFAULT_DIVERGENCE,
    DEFAULT_MI_ESTIMATOR,
    LARGE_SAMPLE_DIVERGENCE,
    LARGE_SAMPLE_JSD,
    PAPER_DIVERGENCE,
    PAPER_MI_ESTIMATOR,
    SMALL_SAMPLE_DIVERGENCE,
    load_mi_estimator,
)

__all__ = ["MIEstimator", "DivergenceEstimator", "TwoSampleTest", "EstimatorOptionError", "mi_estimators", "divergence_estimators",
           "two_sample_tests", "DEFAULT_MI_ESTIMATOR", "DEFAULT_DIVERGENCE", "SMALL_SAMPLE_DIVERGENCE",
           "LARGE_SAMPLE_DIVERGENCE", "LARGE_SAMPLE_JSD", "PAPER_MI_ESTIMATOR", "PAPER_DIVERGENCE",
           "load_mi_estimator"]
