r"""Coverage of EMID confidence intervals on a ground-truth task: does the nominal 95 % interval cover?

**Task** (:class:`EMIDTask`, by default d = 16, n = 60 — the size of a small benchmark split —, ρ = 0.4 / 0.2 /
0.3 for the ID answers, the shifted answers and the references: few pairs in many dimensions, so that, as on
real embeddings, the fitted critic differs from seed to seed nearly as much as the estimate varies with the data): X ~ N(0, I_d); in each of two splits (ID and shifted, n rows each) the model's answer
is :math:`\hat Y = \rho X + \sqrt{1-\rho^2}\,\varepsilon` and the reference :math:`Y = \rho_{\mathrm{ref}} X + \ldots`
(independent noises), so :math:`I(X;\hat Y) = -\frac d2\ln(1-\rho^2)` in closed form and

.. math::  \mathrm{EMID} = \big(I_{\rho_{\mathrm{id}}} - I_{\rho_{\mathrm{ref}}}\big)
                         - \big(I_{\rho_{\mathrm{shift}}} - I_{\rho_{\mathrm{ref}}}\big) = I_{\rho_{\mathrm{id}}} - I_{\rho_{\mathrm{shift}}}.

**Intervals** of one repetition (fresh data; K estimators fitted on its pooled pairs with seeds
``derive_seed(rep, "estimator", k)``):

- ``fixed``: the package's bootstrap until now — member 0 alone, rows of both splits resampled, the fitted
  estimator held fixed (:func:`ensemble_emid_interval` with one member);
- ``ensemble``: the point estimate is the mean over the K members; bootstrap replicate b resamples the rows and
  evaluates member ``b mod K`` (:func:`ensemble_emid_interval`), so the interval also carries the spread that
  comes from fitting the estimator.

**Targets**: the closed-form truth, and the estimator's own population value at this n (the mean of the point
estimates over all repetitions, a Monte Carlo estimate of E[ÊMID]); a variational estimator is biased at
finite n, so the second target tells whether an interval captures the estimator's variability, the first also
whether the bias is small against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator
from mllmshift.metrics import resample_weights


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
        return -0.5 * dim * math.log(1.0 - rho * rho)

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


def _emi_draws(est: MIEstimator, split: EmbeddedSplit, w: np.ndarray, own_once: bool = False) -> np.ndarray:
    assert split.response is not None and split.reference is not None
    opts = {"own_once": True} if own_once else {}
    return (est.mi_weighted(split.x, split.response, w, **opts)  # type: ignore[attr-defined]
            - est.mi_weighted(split.x, split.reference, w, **opts))  # type: ignore[attr-defined]


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


def ensemble_emid_interval(members: Sequence[MIEstimator], id_split: EmbeddedSplit, ood_split: EmbeddedSplit,
                           n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                           own_once: bool = False, mode: str = "cycle") -> EnsembleInterval:
    r"""Point = :math:`\bar\theta`, the mean over the K members of EMID; a percentile interval of B replicates
    in which both splits' rows are resampled (weights ``w_b``) and

    - ``mode="cycle"``: replicate b is member ``b mod K`` on the resample, :math:`\theta_{b \bmod K}(w_b)`:
      the spread of *one* fit (resampling plus seed), conservative for the mean of K;
    - ``mode="mean"``: replicate b is the members' mean on the resample plus one member's deviation shrunk to
      the variance of a K-mean, :math:`\frac1K\sum_k\theta_k(w_b) + (\theta_{b \bmod K} - \bar\theta)/\sqrt{K-1}`
      (the deviations' mean square times 1/(K − 1) is the members' sample variance over K).

    Members must provide ``mi_weighted`` (exact weighted estimates: InfoNCE, SMILE, NWJ, MINE, CLUB, crossfit,
    infonce-pooled); ``own_once`` asks InfoNCE-type members for the duplicate-aware resample.
    """
    if not members:
        raise ValueError("an ensemble needs at least one member")
    if mode not in ("cycle", "mean"):
        raise ValueError(f"mode must be 'cycle' or 'mean', got {mode!r}")
    rng = np.random.default_rng(seed)
    w_id = resample_weights(len(id_split), n_resamples, rng)
    w_ood = resample_weights(len(ood_split), n_resamples, rng)
    draws = np.empty(n_resamples)
    full_id, full_ood = np.full((1, len(id_split)), 1 / len(id_split)), np.full((1, len(ood_split)), 1 / len(ood_split))
    points = [float(_emi_draws(est, id_split, full_id)[0] - _emi_draws(est, ood_split, full_ood)[0])
              for est in members]
    k_all = len(members)
    if mode == "cycle":
        for k, est in enumerate(members):
            rows = np.arange(k, n_resamples, k_all)
            draws[rows] = (_emi_draws(est, id_split, w_id[rows], own_once)
                           - _emi_draws(est, ood_split, w_ood[rows], own_once))
    else:
        mean = np.mean([_emi_draws(est, id_split, w_id, own_once) - _emi_draws(est, ood_split, w_ood, own_once)
                        for est in members], axis=0)
        dev = np.asarray(points) - np.mean(points)
        shrink = 1.0 / math.sqrt(k_all - 1) if k_all > 1 else 0.0
        draws = mean + dev[np.arange(n_resamples) % k_all] * shrink
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return EnsembleInterval(float(np.mean(points)), float(lo), float(hi), tuple(points))


#: interval methods: (members used, duplicate-aware resample, ensemble mode)
METHODS = {"fixed": (1, False, "cycle"), "ensemble": (None, False, "cycle"), "ensemble-mean": (None, False, "mean"),
           "fixed-dedup": (1, True, "cycle"), "ensemble-dedup": (None, True, "cycle")}


def coverage_study(task: EMIDTask, make: Callable[[int], MIEstimator], *, repetitions: int = 100, members: int = 5,
                   methods: Sequence[str] = ("fixed", "ensemble"), n_resamples: int = 500, seed: int = 0,
                   confidence: float = 0.95, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run ``repetitions`` independent repetitions (see the module docstring); ``make(seed)`` builds an unfitted
    estimator. ``methods`` (keys of :data:`METHODS`): ``fixed`` uses member 0 alone, ``ensemble`` cycles the
    members, ``ensemble-mean`` resamples their mean (see :func:`ensemble_emid_interval`); ``-dedup`` variants use
    the duplicate-aware resample (InfoNCE-type estimators). Returns per-repetition
    intervals and the coverage of the truth and of the population value."""
    from mllmshift.estimators.fitting import fit_estimator_on
    from mllmshift.provenance import derive_seed

    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {sorted(METHODS)}")
    reps: list[dict[str, Any]] = []
    for r in range(repetitions):
        rng = np.random.default_rng(derive_seed(seed, "coverage-data", r))
        id_split, ood_split = task.sample(rng)
        fitted = [fit_estimator_on(make(derive_seed(seed, "estimator", r, k)), [id_split, ood_split])
                  for k in range(members)]
        boot_seed = derive_seed(seed, "coverage-bootstrap", r)
        rep = {}
        for m in methods:
            k, own_once, mode = METHODS[m]
            rep[m] = ensemble_emid_interval(fitted[:k], id_split, ood_split, n_resamples, boot_seed, confidence,
                                            own_once, mode).to_dict()
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
