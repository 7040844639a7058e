r"""EMI, EMID and the EMID upper bound (Oh et al., ICML 2025).

With X the fused input, Ŷ the model's response and Y the reference response,
all as embeddings, and one fixed MI estimator Î:

- **EMI** (effective mutual information): :math:`\mathrm{EMI} = \hat I(X;\hat Y) - \hat I(X;Y)`.
  Higher is better; 0 means the model's answers carry as much information
  about the input as the reference answers.
- **EMID**: :math:`\mathrm{EMI}(P) - \mathrm{EMI}(Q)` for the in-distribution
  split P and a shifted split Q. Positive means worse under shift.
- **EMID upper bound** (Theorem 4.5): :mod:`mllmshift.bound` (re-exported here).

Metrics never train anything: the estimator is fitted once and passed in, or an **ensemble** of K
estimators fitted on the same pairs with different seeds. The point EMI of an ensemble is the mean of
its members' EMIs (each member's value is kept); bootstrap replicate b resamples the samples and uses
member b mod K, so the interval includes the estimator-seed variance and, for the cross-fitted members the
pipeline fits by default (:mod:`mllmshift.estimators.fitting`), the variation from the fitting set: each member
draws its own fold partition of the sample ids, so each pair is scored by fits trained on a different random
two thirds of the other items. With K = 1 this is the plain bootstrap, which resamples samples with the
estimator fixed.

Every MI a result carries is checked against :func:`data_limit` (ln n): above it, the EMI is flagged
(:attr:`EMIResult.flags`) rather than shown as a plain number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mllmshift.bound import (
    BOUND_TERMS,
    BoundCheck,
    BoundResult,
    DivergenceChoice,
    as_divergence,
    check_bound,
    emid_upper_bound,
    id_output_term,
    output_term,
)
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator, members_of
from mllmshift.resampling import (
    MatrixWeights,
    PoissonWeights,
    ResampleWeights,
    choose_scheme,
    multinomial_counts,
)

__all__ = ["EMIResult", "data_limit", "EMIDResult", "Interval", "Estimators", "emi", "emi_from_members", "emi_of", "emid", "emid_from", "pointwise_emi",
           "resample_weights", "bootstrap_emi", "bootstrap_emid", "SATURATION_TOLERANCE",
           # the bound (mllmshift.bound), part of the metrics' API
           "BOUND_TERMS", "BoundCheck", "BoundResult", "DivergenceChoice", "as_divergence", "check_bound",
           "emid_upper_bound", "id_output_term",
           "output_term"]

#: a fitted estimator or an ensemble of them (fitted on the same pairs)
Estimators = MIEstimator | Sequence[MIEstimator]

#: an MI estimate within this fraction of its estimator's ceiling counts as saturated
SATURATION_TOLERANCE = 0.01


def _float(value: Any) -> float:
    """A number read back from strict JSON: null (a non-finite value written by :mod:`mllmshift.io.strict_json`)
    is NaN again."""
    return math.nan if value is None else float(value)


def data_limit(n: int) -> float:
    r"""ln n: the most mutual information, in nats, that n pairs can support.

    A sample of n pairs identifies at most n distinct pairings, so no estimate of I(X; Y) computed from it
    can certify more than :math:`\ln n` nats (the contrastive bounds reach it as their ceiling, McAllester &
    Stratos 2020); an estimate above it reflects the estimator (an over-fitted critic, an unbounded DV term), not
    the data. :class:`EMIResult` flags any MI above it.
    """
    return math.log(n) if n > 1 else 0.0


@dataclass(frozen=True)
class EMIResult:
    """EMI = mi_response − mi_reference on n samples (means over an ensemble's members).

    ``members`` holds each member's EMI (one value for a single estimator). ``ceiling`` is the largest
    value the estimator can return on n pairs (InfoNCE: ln n), None when it has none; ``saturated`` is
    true when either MI is within 1 % of it: the MI then exceeds what n samples can certify, and the
    EMI only compares how close the two come to the cap. ``above_data_limit`` is true when either MI is
    above :func:`data_limit` (ln n), what n pairs can support at all; :attr:`flags` says which, in words,
    and every view (JSON, CSV rows, the summary, the command line, the report) carries them.
    """

    value: float
    mi_response: float
    mi_reference: float
    n: int
    ceiling: float | None = None
    members: tuple[float, ...] = ()

    @property
    def saturated(self) -> bool:
        if self.ceiling is None:
            return False
        limit = self.ceiling * (1.0 - SATURATION_TOLERANCE)
        return self.mi_response >= limit or self.mi_reference >= limit

    @property
    def data_limit(self) -> float:
        """ln n (:func:`data_limit`)."""
        return data_limit(self.n)

    @property
    def above_data_limit(self) -> bool:
        """Whether I(X;Ŷ) or I(X;Y) is above ln n (NaN is not)."""
        return bool(self.mi_response > self.data_limit or self.mi_reference > self.data_limit)

    @property
    def flagged(self) -> bool:
        """Above ln n or at the estimator's ceiling: the EMI is not a difference of two supportable MIs."""
        return self.above_data_limit or self.saturated

    @property
    def flags(self) -> tuple[str, ...]:
        """Why the numbers cannot be read as they stand, one sentence each (empty when they can)."""
        out = []
        for label, v in (("I(X;Ŷ)", self.mi_response), ("I(X;Y)", self.mi_reference)):
            if v > self.data_limit:
                out.append(f"{label} = {v:.3f} nats is above ln {self.n} = {self.data_limit:.3f}, the most {self.n} "
                           f"pairs can support")
        if self.saturated:
            out.append(f"an MI is at the estimator's ceiling {self.ceiling:.3f} on {self.n} pairs")
        return tuple(out)

    def shown(self, which: str) -> str:
        """``mi_response`` or ``mi_reference`` as text, marked when above ln n (never a plain number then)."""
        v = float(getattr(self, which))
        return f"{v:.4f}" + (f" (!: above ln {self.n} = {self.data_limit:.3f})" if v > self.data_limit else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "members": list(self.members), "saturated": self.saturated,
                "data_limit": self.data_limit, "above_data_limit": self.above_data_limit, "flags": list(self.flags)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EMIResult:
        return cls(_float(d["value"]), _float(d["mi_response"]), _float(d["mi_reference"]), int(d["n"]),
                   None if d.get("ceiling") is None else float(d["ceiling"]),
                   tuple(_float(v) for v in d.get("members") or ()))


@dataclass(frozen=True)
class EMIDResult:
    """EMID = emi_id.value − emi_ood.value; ``members`` holds each ensemble member's EMID."""

    value: float
    emi_id: EMIResult
    emi_ood: EMIResult
    members: tuple[float, ...] = ()

    @property
    def members_agree(self) -> bool:
        """Whether every member's EMID has the sign of the point EMID (0 counts as either)."""
        return all(m * self.value >= 0 for m in self.members)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "emi_id": self.emi_id.to_dict(), "emi_ood": self.emi_ood.to_dict(),
                "members": list(self.members)}


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap confidence interval; ``scheme``: ``multinomial`` or ``poisson``
    (:mod:`mllmshift.resampling`)."""

    low: float
    high: float
    std: float
    n_resamples: int
    seed: int
    confidence: float
    scheme: str = "multinomial"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Interval:
        return cls(_float(d["low"]), _float(d["high"]), _float(d["std"]), int(d["n_resamples"]), int(d["seed"]),
                   float(d["confidence"]), str(d.get("scheme", "multinomial")))

    def excludes_zero_on_the_side_of(self, value: float) -> bool:
        """Whether the whole interval lies strictly on the side of 0 where ``value`` is."""
        return self.low > 0 if value > 0 else self.high < 0 if value < 0 else False


def emi(x: Any, y_hat: Any, y: Any, estimators: Estimators) -> EMIResult:
    """EMI = Î(X; Ŷ) − Î(X; Y) with one fixed estimator (or the mean over an ensemble's members).

    The embeddings are arrays or :class:`~mllmshift.sources.EmbeddingSource` objects (rows on disk, read
    in chunks): the estimators read either the same way."""
    if not (len(x) == len(y_hat) == len(y)):
        raise ValueError(f"x, y_hat and y must have the same number of rows, got {len(x)}, {len(y_hat)}, {len(y)}")
    members = members_of(estimators)
    return emi_from_members(members, [est.mi_many(x, [y_hat, y]) for est in members], len(x))


def emi_from_members(members: Sequence[MIEstimator], pairs: Sequence[Sequence[float]], n: int) -> EMIResult:
    """The :class:`EMIResult` of an ensemble from each member's ``(Î(X;Ŷ), Î(X;Y))`` on n pairs."""
    pairs = [tuple(float(v) for v in p) for p in pairs]
    a = float(np.mean([p[0] for p in pairs]))
    b = float(np.mean([p[1] for p in pairs]))
    values = tuple(p[0] - p[1] for p in pairs)
    return EMIResult(value=a - b, mi_response=a, mi_reference=b,
                     n=n, ceiling=members[0].ceiling(n), members=values)


def pointwise_emi(x: Any, y_hat: Any, y: Any,
                  estimators: Estimators) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-sample contributions ``(to Î(X;Ŷ), to Î(X;Y))`` (means over the members), whose means are the two
    MIs of :func:`emi`; None when an estimator has no pointwise form."""
    resp, ref = [], []
    for est in members_of(estimators):
        a, b = est.pointwise(x, y_hat), est.pointwise(x, y)
        if a is None or b is None:
            return None
        resp.append(a)
        ref.append(b)
    return np.mean(resp, axis=0), np.mean(ref, axis=0)


def _require(split: EmbeddedSplit, what: str) -> None:
    if split.response is None:
        raise ValueError(f"split '{split.name}' has no responses; {what} needs them")
    if split.reference is None:
        raise ValueError(f"split '{split.name}' has no references; {what} needs them")


def emi_of(split: EmbeddedSplit, estimators: Estimators) -> EMIResult:
    """EMI of an embedded split."""
    _require(split, "EMI")
    return emi(split.x, split.response, split.reference, estimators)  # type: ignore[arg-type]


def emid(id_split: EmbeddedSplit, ood_split: EmbeddedSplit, estimators: Estimators) -> EMIDResult:
    """EMID = EMI(ID) − EMI(shifted); positive means the model is worse under the shift."""
    return emid_from(emi_of(id_split, estimators), emi_of(ood_split, estimators))


def emid_from(emi_id: EMIResult, emi_ood: EMIResult) -> EMIDResult:
    """The EMID of two EMIs computed with the same estimators (member by member)."""
    return EMIDResult(value=emi_id.value - emi_ood.value, emi_id=emi_id, emi_ood=emi_ood,
                      members=tuple(a - b for a, b in zip(emi_id.members, emi_ood.members)))


# ----------------------------------------------------------------- bootstrap
def resample_weights(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B × n) multiplicities / n of B bootstrap resamples of n items (rows sum to 1)."""
    return multinomial_counts(n, n_resamples, rng) / n


def _weights(scheme: str, n: int, n_resamples: int, rng: np.random.Generator, seed: int,
             stream: int) -> ResampleWeights:
    """The replicates of one split: multinomial counts drawn from ``rng`` (blocks of 256 replicates, the
    draws of earlier versions), or Poisson weights keyed by ``(seed, stream)``."""
    if choose_scheme(scheme, n, n_resamples) == "poisson":
        return PoissonWeights(n, n_resamples, seed, stream)
    blocks = [multinomial_counts(n, min(256, n_resamples - b), rng) for b in range(0, n_resamples, 256)]
    return MatrixWeights(np.concatenate(blocks) if blocks else np.zeros((0, n)))


def _emi_draws(x: Any, y_hat: Any, y: Any, estimators: Estimators, weights: ResampleWeights) -> np.ndarray:
    """EMI on each bootstrap replicate (same weights for Ŷ and Y); replicate r uses member r mod K of the
    ensemble (the one estimator when K = 1)."""
    members = members_of(estimators)
    draws = np.empty(weights.n_resamples)
    for k, est in enumerate(members):
        reps = np.arange(k, weights.n_resamples, len(members))
        if len(reps):
            both = est.mi_resampled(x, [y_hat, y], weights.select(reps))
            draws[reps] = both[0] - both[1]
    return draws


def _interval(draws: np.ndarray, confidence: float, n_resamples: int, seed: int, scheme: str) -> Interval:
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return Interval(float(lo), float(hi), float(draws.std(ddof=1)) if len(draws) > 1 else 0.0, n_resamples, seed,
                    confidence, scheme)


def bootstrap_emi(x: Any, y_hat: Any, y: Any, estimators: Estimators, n_resamples: int = 1000, seed: int = 0,
                  confidence: float = 0.95, scheme: str = "auto") -> Interval:
    """Percentile bootstrap CI of EMI: resample samples (x, ŷ, y) jointly; estimator fixed (member r mod K
    of an ensemble for replicate r). ``scheme``: :mod:`mllmshift.resampling` (``auto``: multinomial while
    B × n is small, the chunk-wise Poisson bootstrap beyond)."""
    w = _weights(scheme, len(x), n_resamples, np.random.default_rng(seed), seed, 0)
    return _interval(_emi_draws(x, y_hat, y, estimators, w), confidence, n_resamples, seed, w.scheme)


def bootstrap_emid(id_split: EmbeddedSplit, ood_split: EmbeddedSplit, estimators: Estimators,
                   n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                   scheme: str = "auto") -> Interval:
    """Percentile bootstrap CI of EMID: the two splits are resampled independently; estimator fixed (member
    r mod K of an ensemble for replicate r of both splits). ``scheme`` as for :func:`bootstrap_emi`, chosen
    by the larger split."""
    _require(id_split, "EMID")
    _require(ood_split, "EMID")
    scheme = choose_scheme(scheme, max(len(id_split), len(ood_split)), n_resamples)
    rng = np.random.default_rng(seed)
    draws = []
    for stream, s in enumerate((id_split, ood_split)):
        w = _weights(scheme, len(s), n_resamples, rng, seed, stream)
        draws.append(_emi_draws(s.x, s.response, s.reference, estimators, w))
    return _interval(draws[0] - draws[1], confidence, n_resamples, seed, scheme)
