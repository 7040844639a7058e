"""The validation grids: ``ci`` (a couple of minutes on two CPU cores), ``full`` (the committed table) and
``jsd-n`` (the bias of the JSD estimators as n grows through the old 1,000-point switch).

Estimator settings are the package defaults except where a preset says
otherwise; both presets are written next to their results (``validation.json``).

``full`` shrinks the grid where an estimator is slow, and says so here:

- KSG runs on total dimension ≤ 10 at every n, on 50 dimensions up to n = 1,000,
  and not on the 1,536-dimensional sphere task (k-d trees degrade to brute force
  in high dimension: 70 s per run at 25×25, n = 10,000, and KSG is meant for low dimensions).
- The trained estimators (CLUB, sampled CLUB, InfoNCE, NWJ, MINE, SMILE,
  classifier JSD) use 3 of the 5 seeds at n = 1,000 and 2 at n = 10,000
  (on two shared CPU cores a critic fit takes 3–10 s at n = 1,000; the whole
  table had to fit in about 40 minutes).
- CLUB and sampled CLUB skip n = 10,000 on the 1,536-dimensional sphere task
  (with the default hidden size 500 and up to 200 epochs one such fit took
  about 5 minutes on the shared 2-core machine).
"""

from __future__ import annotations

from mllmshift.validation.jsd_tasks import jsd_tasks
from mllmshift.validation.mi_tasks import mi_tasks
from mllmshift.validation.runner import EstimatorSpec, Grid

VARIATIONAL = ("infonce", "nwj", "mine", "smile")
#: KSG: above 10 dimensions only n <= 1,000; above 100 dimensions not at all
KSG_LIMITS = ((10, 1000), (100, 0))


def full() -> Grid:
    few = ((1_000, 3), (10_000, 2))
    club = {"hidden_size": 500, "max_epochs": 200}
    club_limits = ((100, 1000),)
    specs = [
        EstimatorSpec("club", "mi", "club", club, max_n_by_dim=club_limits, seeds_by_n=few),
        EstimatorSpec("club-sampled", "mi", "club-sampled", club, max_n_by_dim=club_limits, seeds_by_n=few),
        *[EstimatorSpec(v, "mi", v, {}, seeds_by_n=few) for v in VARIATIONAL],
        EstimatorSpec("ksg", "mi", "ksg", {"k": 3}, max_n_by_dim=KSG_LIMITS),
        EstimatorSpec("gaussian", "mi", "gaussian", {}),
        EstimatorSpec("gaussian-copula", "mi", "gaussian", {"copula": True}),
        EstimatorSpec("rjsd", "jsd", "rjsd", {}),
        EstimatorSpec("rjsd-debiased", "jsd", "rjsd-debiased", {}),
        EstimatorSpec("rjsd-rff", "jsd", "rjsd-rff", {}),
        EstimatorSpec("classifier-jsd", "jsd", "classifier-jsd", {}, seeds_by_n=few),
        EstimatorSpec("mmd", "test", "mmd", {}),
    ]
    return Grid(tuple(specs), tuple(mi_tasks()), tuple(jsd_tasks()), (100, 1000, 10_000), (0, 1, 2, 3, 4))


def ci() -> Grid:
    """Every estimator on a few small tasks at n = 200 with 2 seeds and short training."""
    club = {"hidden_size": 64, "max_epochs": 40, "patience": 5}
    short = {"hidden_size": 64, "max_steps": 300, "eval_every": 25, "patience": 4}
    specs = [
        EstimatorSpec("club", "mi", "club", club),
        EstimatorSpec("club-sampled", "mi", "club-sampled", club),
        *[EstimatorSpec(v, "mi", v, short) for v in VARIATIONAL],
        EstimatorSpec("ksg", "mi", "ksg", {"k": 3}),
        EstimatorSpec("gaussian", "mi", "gaussian", {}),
        EstimatorSpec("gaussian-copula", "mi", "gaussian", {"copula": True}),
        EstimatorSpec("rjsd", "jsd", "rjsd", {}),
        EstimatorSpec("rjsd-rff", "jsd", "rjsd-rff", {"n_features": 256}),
        EstimatorSpec("classifier-jsd", "jsd", "classifier-jsd", {"max_steps": 300}),
        EstimatorSpec("mmd", "test", "mmd", {"n_permutations": 100}),
    ]
    return Grid(tuple(specs), ("normal-1x1", "normal-sparse-5x5", "half-cube(normal-dense-5x5)", "student-t-1x1"),
                ("identical-5d", "gauss-mean-5d", "orthogonal-16in64"), (200,), (0, 1))


def jsd_n() -> Grid:
    """The bound's JSD candidates on every JSD task at n from 50 to 3,000, including 999 and 1,000 (where ``auto``
    used to switch from rjsd to the classifier): finite-sample bias against n, and continuity."""
    specs = [
        EstimatorSpec("rjsd", "jsd", "rjsd", {}),
        EstimatorSpec("rjsd-debiased", "jsd", "rjsd-debiased", {}),
        EstimatorSpec("classifier-jsd", "jsd", "classifier-jsd", {}),
    ]
    return Grid(tuple(specs), (), tuple(jsd_tasks()), (50, 100, 300, 999, 1000, 3000), (0, 1, 2, 3, 4))


PRESETS = {"ci": ci, "full": full, "jsd-n": jsd_n}


def preset(name: str) -> Grid:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
