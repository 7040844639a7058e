"""Mutual-information and divergence estimators, behind one registry each.

>>> from mllmshift.estimators import mi_estimators, divergence_estimators
>>> club = mi_estimators.create("club", x_dim=8, y_dim=8)   # doctest: +SKIP
"""

from mllmshift.estimators.base import DivergenceEstimator, MIEstimator
from mllmshift.registry import Registry

mi_estimators: Registry[type[MIEstimator]] = Registry("MI estimator")
divergence_estimators: Registry[type[DivergenceEstimator]] = Registry("divergence estimator")

mi_estimators.register("club", "mllmshift.estimators.mi.club:CLUB",
                       description="Gaussian variational CLUB upper bound (Cheng et al., 2020), the paper's estimator")
divergence_estimators.register("rjsd", "mllmshift.estimators.divergence.rjsd:RJSD",
                               description="representation JSD, linear kernel, trace-normalised covariances")

__all__ = ["MIEstimator", "DivergenceEstimator", "mi_estimators", "divergence_estimators"]
