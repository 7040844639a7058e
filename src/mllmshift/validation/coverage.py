r"""Coverage of EMID confidence intervals on a ground-truth task: does the nominal 95 % interval cover?

**Task** (:class:`EMIDTask`, by default d = 16, n = 60 — the size of a small benchmark split —, ρ = 0.4 / 0.2 /
0.3 for the ID answers, the shifted answers and the references: few pairs in many dimensions, so that, as on
real embeddings, the fitted critic differs from seed to seed nearly as much as the estimate varies with the data): X ~ N(0, I_d); in each of two splits (ID and shifted, n rows each) the model's answer
is :math:`\hat Y = \rho X + \sqrt{1-\rho^2}\,\varepsilon` and the reference :math:`Y = \rho_{\mathrm{ref}} X + \ldots`
(independent noises), so :math:`I(X;\hat Y) = -\frac d2\ln(1-\rho^2)` in closed form and

.. math::  \mathrm{EMID} = \big(I_{\rho_{\mathrm{id}}} - I_{\rho_{\mathrm{ref}}}\big)
                         - \big(I_{\rho_{\mathrm{shift}}} - I_{\rho_{\mathrm{ref}}}\big) = I_{\rho_{\mathrm{id}}} - I_{\rho_{\mathrm{shift}}}.

**Intervals** of one repetition (fresh data), both computed by the evaluation pipeline's own code
(:func:`mllmshift.evaluation.estimation.fit_estimators` fits ``EvalConfig.n_estimators`` members on the pooled pairs
with seeds ``derive_seed(seed, "estimator", k)``; :func:`mllmshift.metrics.emid` and
:func:`mllmshift.metrics.bootstrap_emid` give the point and the percentile interval, replicate b evaluating member
``b mod K``):

- ``fixed``: K = 1, the bootstrap with the fitted estimator held fixed (what ``--n-estimators 1`` reports);
- ``ensemble``: K members, so the interval also carries the spread that comes from fitting the estimator.

**Targets**: the closed-form truth, and the estimator's own population value at this n (the mean of the point
estimates over all repetitions, a Monte Carlo estimate of E[ÊMID]); a variational estimator is biased at
finite n, so the second target tells whether an interval captures the estimator's variability, the first also
whether the bias is small against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator
from mllmshift.validation.mi_tasks import correlated_pairs_mi


@dataclass(frozen=True)
class EMIDTask:
    """Two splits of n Gaussian pairs in d dimensions with per-coordinate correlations (see the module docstring)."""

    dim: int = 16
    n: int = 60
    rho_id: float = 0.4
    rho_shift: float = 0.2
    rho_ref: float = 0.3

    @staticmethod
    def mi(rho: float, dim: int) -> float:
        return correlated_pairs_mi(rho, dim)

    @property
    def true_emid(self) -> float:
        return self.mi(self.rho_id, self.dim) - self.mi(self.rho_shift, self.dim)

    def _split(self, name: str, rho: float, rng: np.random.Generator) -> EmbeddedSplit:
        x = rng.normal(size=(self.n, self.dim))

        def answer(r: float) -> np.ndarray:
            return (r * x + math.sqrt(1.0 - r * r) * rng.normal(size=x.shape)).astype(np.float32)

        return EmbeddedSplit.from_arrays(name, x_text=x.astype(np.float32), response=answer(rho),
                                         reference=answer(self.rho_ref))

    def sample(self, rng: np.random.Generator) -> tuple[EmbeddedSplit, EmbeddedSplit]:
        return self._split("id", self.rho_id, rng), self._split("shift", self.rho_shift, rng)


@dataclass(frozen=True)
class EnsembleInterval:
    """An EMID point estimate (mean over members), its percentile interval and the members' own estimates."""

    value: float
    low: float
    high: float
    members: tuple[float, ...]

    def covers(self, target: float) -> bool:
        return self.low <= target <= self.high

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pipeline_emid_interval(members: Sequence[MIEstimator], id_split: EmbeddedSplit, ood_split: EmbeddedSplit,
                           n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> EnsembleInterval:
    """EMID and its interval as ``mllmshift emid`` computes them for an ensemble of ``members``
    (:func:`mllmshift.metrics.emid`, :func:`mllmshift.metrics.bootstrap_emid`)."""
    from mllmshift.metrics import bootstrap_emid, emid

    d = emid(id_split, ood_split, members)
    ci = bootstrap_emid(id_split, ood_split, members, n_resamples, seed, confidence)
    return EnsembleInterval(d.value, ci.low, ci.high, tuple(d.members))


#: interval methods: members of the ensemble used (None: all K)
METHODS = {"fixed": 1, "ensemble": None}


def coverage_study(task: EMIDTask, estimator: str, options: Mapping[str, Any] | None = None, *,
                   repetitions: int = 100, members: int = 5, methods: Sequence[str] = ("fixed", "ensemble"),
                   n_resamples: int = 500, seed: int = 0, confidence: float = 0.95, folds: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run ``repetitions`` independent repetitions (see the module docstring) of the registered ``estimator``
    with constructor ``options``. ``methods`` (keys of :data:`METHODS`): ``fixed`` is the first member alone (the
    fixed-estimator bootstrap), ``ensemble`` all ``members``. Returns per-repetition intervals and the coverage of
    the truth and of the population value. ``folds``: the members' cross-fitting folds (default: the project's;
    0: fitted and scored on the same pairs)."""
    from mllmshift.evaluation.config import Component, EvalConfig
    from mllmshift.vocab import DEFAULT_FOLDS
    from mllmshift.evaluation.estimation import fit_estimators
    from mllmshift.provenance import derive_seed

    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {sorted(METHODS)}")
    reps: list[dict[str, Any]] = []
    for r in range(repetitions):
        rng = np.random.default_rng(derive_seed(seed, "coverage-data", r))
        id_split, ood_split = task.sample(rng)
        cfg = EvalConfig(estimator=Component(estimator, dict(options or {})), n_estimators=members,
                         seed=derive_seed(seed, "coverage-estimator", r), image_encoder=None,
                         folds=DEFAULT_FOLDS if folds is None else folds)
        fitted = fit_estimators([id_split, ood_split], cfg).members
        boot_seed = derive_seed(seed, "coverage-bootstrap", r)
        rep = {}
        for m in methods:
            rep[m] = pipeline_emid_interval(fitted[:METHODS[m]], id_split, ood_split, n_resamples, boot_seed,
                                            confidence).to_dict()
        reps.append(rep)
        if progress is not None:
            progress(r + 1, repetitions)
    # E[ÊMID] of one member at this n: the mean of every member's estimate over all repetitions
    population = float(np.mean([v for rep in reps for v in _all_members(rep)]))
    summary: dict[str, Any] = {}
    for m in methods:
        iv = [rep[m] for rep in reps]
        summary[m] = {
            "coverage_truth": float(np.mean([i["low"] <= task.true_emid <= i["high"] for i in iv])),
            "coverage_population": float(np.mean([i["low"] <= population <= i["high"] for i in iv])),
            "mean_width": float(np.mean([i["high"] - i["low"] for i in iv])),
            "sd_of_point": float(np.std([i["value"] for i in iv], ddof=1)) if len(iv) > 1 else 0.0,
            "mean_point": float(np.mean([i["value"] for i in iv])),
        }
    return {"task": asdict(task), "true_emid": task.true_emid, "population_value": population,
            "repetitions": repetitions, "members": members, "methods": list(methods), "n_resamples": n_resamples,
            "confidence": confidence, "seed": seed, "summary": summary, "repetitions_detail": reps}


def _all_members(rep: dict[str, Any]) -> list[float]:
    """The members' estimates of one repetition, from the method that used the most members."""
    return list(max(rep.values(), key=lambda v: len(v["members"]))["members"])
