r"""EMI, EMID and the EMID upper bound (Oh et al., ICML 2025).

With X the fused input, Ŷ the model's response and Y the reference response,
all as embeddings, and one fixed MI estimator Î:

- **EMI** (effective mutual information): :math:`\mathrm{EMI} = \hat I(X;\hat Y) - \hat I(X;Y)`.
  Higher is better; 0 means the model's answers carry as much information
  about the input as the reference answers.
- **EMID**: :math:`\mathrm{EMI}(P) - \mathrm{EMI}(Q)` for the in-distribution
  split P and a shifted split Q. Positive means worse under shift.
- **EMID upper bound** (Theorem 4.5), with JSDs estimated by a divergence
  estimator (by default linear RJSD with its finite-sample bias removed, ``rjsd-debiased``):

  .. math::

     \widehat{\mathrm{EMID}} \le \hat H\,\big(\sqrt{\mathrm{JSD}(P_{X_v}\|Q_{X_v})}
        + \sqrt{\mathrm{JSD}(P_{X_t}\|Q_{X_t})}\big)
        + 4\,\big(\mathrm{JSD}(P_{\hat Y}\|P_Y)^{1/4} + \mathrm{JSD}(Q_{\hat Y}\|Q_Y)^{1/4}\big).

  ``entropy_scale=None`` gives the paper code's *scale-adjusted* form
  (Ĥ = 1 and no factor 4); a number gives the theorem's form with Ĥ = that number.

Metrics never train anything: the estimator is fitted once and passed in.
Bootstrap intervals resample samples with the estimator fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import DivergenceEstimator, MIEstimator

BOUND_TERMS = ("visual", "text", "id_output", "ood_output")


#: an MI estimate within this fraction of its estimator's ceiling counts as saturated
SATURATION_TOLERANCE = 0.01


@dataclass(frozen=True)
class EMIResult:
    """EMI = mi_response − mi_reference on n samples.

    ``ceiling`` is the largest value the estimator can return on n pairs (InfoNCE: ln n), None when
    it has none; ``saturated`` is true when either MI is within 1 % of it: the MI then exceeds what
    n samples can certify, and the EMI only compares how close the two come to the cap.
    """

    value: float
    mi_response: float
    mi_reference: float
    n: int
    ceiling: float | None = None

    @property
    def saturated(self) -> bool:
        if self.ceiling is None:
            return False
        limit = self.ceiling * (1.0 - SATURATION_TOLERANCE)
        return self.mi_response >= limit or self.mi_reference >= limit

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saturated": self.saturated}


@dataclass(frozen=True)
class EMIDResult:
    """EMID = emi_id.value − emi_ood.value."""

    value: float
    emi_id: EMIResult
    emi_ood: EMIResult

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "emi_id": self.emi_id.to_dict(), "emi_ood": self.emi_ood.to_dict()}


@dataclass(frozen=True)
class BoundResult:
    """The EMID upper bound and its four JSD terms (None where a term cannot be computed).

    ``jsd_visual`` is None for text-only data (no visual input); the output terms
    are None for a split without references, and so is ``value`` then.
    """

    value: float | None
    jsd_visual: float | None
    jsd_text: float
    jsd_id_output: float | None
    jsd_ood_output: float | None
    form: str
    entropy_scale: float | None
    #: the divergence estimator that produced each computed term (``auto`` resolved to its choice)
    estimators: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["estimators"] = dict(self.estimators) if self.estimators is not None else None
        return out


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap confidence interval."""

    low: float
    high: float
    std: float
    n_resamples: int
    seed: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mi_pair(estimator: MIEstimator, x: np.ndarray, y_hat: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    many = getattr(estimator, "mi_many", None)
    if callable(many):
        a, b = many(x, [y_hat, y])
        return float(a), float(b)
    return float(estimator.mi(x, y_hat)), float(estimator.mi(x, y))


def emi(x: np.ndarray, y_hat: np.ndarray, y: np.ndarray, estimator: MIEstimator) -> EMIResult:
    """EMI = Î(X; Ŷ) − Î(X; Y) with one fixed estimator."""
    if not (len(x) == len(y_hat) == len(y)):
        raise ValueError(f"x, y_hat and y must have the same number of rows, got {len(x)}, {len(y_hat)}, {len(y)}")
    a, b = _mi_pair(estimator, x, y_hat, y)
    ceiling = getattr(estimator, "ceiling", None)
    return EMIResult(value=a - b, mi_response=a, mi_reference=b, n=len(x),
                     ceiling=ceiling(len(x)) if callable(ceiling) else None)


def _require(split: EmbeddedSplit, what: str) -> None:
    if split.response is None:
        raise ValueError(f"split '{split.name}' has no responses; {what} needs them")
    if split.reference is None:
        raise ValueError(f"split '{split.name}' has no references; {what} needs them")


def emi_of(split: EmbeddedSplit, estimator: MIEstimator) -> EMIResult:
    """EMI of an embedded split."""
    _require(split, "EMI")
    return emi(split.x, split.response, split.reference, estimator)  # type: ignore[arg-type]


def emid(id_split: EmbeddedSplit, ood_split: EmbeddedSplit, estimator: MIEstimator) -> EMIDResult:
    """EMID = EMI(ID) − EMI(shifted); positive means the model is worse under the shift."""
    a, b = emi_of(id_split, estimator), emi_of(ood_split, estimator)
    return EMIDResult(value=a.value - b.value, emi_id=a, emi_ood=b)


DivergenceChoice = DivergenceEstimator | Callable[[np.ndarray, np.ndarray], float] | str | None


def _as_divergence(choice: DivergenceChoice) -> Callable[[np.ndarray, np.ndarray], float]:
    """A divergence function from an estimator, a function, a registered name, or None (the default)."""
    from mllmshift.estimators.defaults import DEFAULT_DIVERGENCE, build_divergence

    if choice is None:
        choice = DEFAULT_DIVERGENCE
    if isinstance(choice, str):
        choice = build_divergence(choice)
    if isinstance(choice, DivergenceEstimator):
        return choice.divergence
    if not callable(choice):
        raise TypeError(f"a divergence must be an estimator, a function (a, b) -> float or a registered name, "
                        f"got {type(choice).__name__}")
    return choice


def _divergences(divergence: DivergenceChoice | Mapping[str, DivergenceChoice]) -> dict[str, Callable[..., float]]:
    if isinstance(divergence, Mapping):
        unknown = set(divergence) - set(BOUND_TERMS)
        if unknown:
            raise ValueError(f"unknown bound terms {sorted(unknown)}; terms are {BOUND_TERMS}")
        return {t: _as_divergence(divergence.get(t)) for t in BOUND_TERMS}
    shared = _as_divergence(divergence)
    return {t: shared for t in BOUND_TERMS}


def emid_upper_bound(id_split: EmbeddedSplit, ood_split: EmbeddedSplit, entropy_scale: float | None = None,
                     divergence: DivergenceChoice | Mapping[str, DivergenceChoice] = None,
                     id_output: tuple[float, str] | None = None) -> BoundResult:
    """The EMID upper bound and its four JSD terms (see the module docstring).

    Args:
        entropy_scale: None for the scale-adjusted form; Ĥ for the theorem's form.
        divergence: one JSD estimator for all four terms (an estimator, a function ``(a, b) -> float``
            or a registered name such as ``"rjsd"``), or a mapping from ``visual``, ``text``,
            ``id_output``, ``ood_output`` to such (missing terms use the default). Default:
            :data:`~mllmshift.estimators.DEFAULT_DIVERGENCE` (``"rjsd-debiased"``: linear RJSD minus its
            mean on shuffled re-splits). Pass ``"rjsd"`` for the paper's plug-in estimator.
        id_output: JSD(P_Ŷ‖P_Y) and the name of its estimator from an earlier call with the same ID
            split and divergence (``(b.jsd_id_output, b.estimators["id_output"])``). The term does
            not depend on the shifted split, so comparing one ID split with many scenarios computes
            it once (:func:`id_output_term`).
    """
    div = _divergences(divergence)
    if (id_split.x_visual is None) != (ood_split.x_visual is None):
        raise ValueError("one split has a visual input and the other has none")
    used: dict[str, str] = {}

    def term(key: str, a: np.ndarray | None, b: np.ndarray | None) -> float | None:
        if a is None or b is None:
            return None
        value = _nonneg(div[key](a, b))
        used[key] = _label(div[key])
        return value

    j_v = term("visual", id_split.x_visual, ood_split.x_visual)
    j_t = term("text", id_split.x_text, ood_split.x_text)
    if id_output is not None and id_split.response is not None and id_split.reference is not None:
        j_p, used["id_output"] = id_output
    else:
        j_p = term("id_output", id_split.response, id_split.reference)
    j_q = term("ood_output", ood_split.response, ood_split.reference)
    return replace(_assemble(j_v, j_t, j_p, j_q, entropy_scale), estimators=used)  # type: ignore[arg-type]


def id_output_term(bound: BoundResult) -> tuple[float, str] | None:
    """``(JSD(P_Ŷ‖P_Y), its estimator)`` of a bound, to pass as ``id_output`` to the next scenario's bound."""
    if bound.jsd_id_output is None or not bound.estimators or "id_output" not in bound.estimators:
        return None
    return bound.jsd_id_output, bound.estimators["id_output"]


def _label(fn: Callable[..., float]) -> str:
    """The name of the estimator behind a divergence function (an AutoJSD's latest choice)."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, DivergenceEstimator):
        return str(getattr(owner, "last_choice", None) or owner.name)
    return str(getattr(fn, "__name__", type(fn).__name__))


def _nonneg(v: float) -> float:
    v = float(v)
    if math.isnan(v):
        raise ValueError("divergence estimate is NaN")
    return max(v, 0.0)


def _assemble(j_v: float | None, j_t: float, j_p: float | None, j_q: float | None,
              entropy_scale: float | None) -> BoundResult:
    input_part = math.sqrt(j_t) + (math.sqrt(j_v) if j_v is not None else 0.0)
    if j_p is None or j_q is None:
        value = None
    elif entropy_scale is None:
        value = input_part + j_p ** 0.25 + j_q ** 0.25
    else:
        if entropy_scale < 0:
            raise ValueError("entropy_scale must be non-negative")
        value = entropy_scale * input_part + 4.0 * (j_p ** 0.25 + j_q ** 0.25)
    form = "scale-adjusted" if entropy_scale is None else "theorem"
    return BoundResult(value, j_v, j_t, j_p, j_q, form, entropy_scale)


# ----------------------------------------------------------------- bootstrap
def resample_weights(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B × n) multiplicities / n of B bootstrap resamples of n items (rows sum to 1)."""
    idx = rng.integers(0, n, size=(n_resamples, n))
    counts = np.zeros((n_resamples, n))
    np.add.at(counts, (np.repeat(np.arange(n_resamples), n), idx.ravel()), 1.0)
    return counts / n


def _emi_draws(x: np.ndarray, y_hat: np.ndarray, y: np.ndarray, estimator: MIEstimator, n_resamples: int,
               rng: np.random.Generator, block: int = 256) -> np.ndarray:
    """EMI on each of ``n_resamples`` bootstrap resamples (same indices for Ŷ and Y)."""
    n = len(x)
    weighted = getattr(estimator, "mi_weighted", None)
    draws = np.empty(n_resamples)
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        w = resample_weights(n, b, rng)
        if callable(weighted):
            try:
                draws[done : done + b] = weighted(x, y_hat, w) - weighted(x, y, w)
            except NotImplementedError:  # e.g. InfoNCE with K random negatives: re-estimate instead
                weighted = None
        if not callable(weighted):
            for k in range(b):
                idx = np.repeat(np.arange(n), np.rint(w[k] * n).astype(np.int64))
                draws[done + k] = estimator.mi(x[idx], y_hat[idx]) - estimator.mi(x[idx], y[idx])
        done += b
    return draws


def _interval(draws: np.ndarray, confidence: float, n_resamples: int, seed: int) -> Interval:
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return Interval(float(lo), float(hi), float(draws.std(ddof=1)) if len(draws) > 1 else 0.0, n_resamples, seed,
                    confidence)


def bootstrap_emi(x: np.ndarray, y_hat: np.ndarray, y: np.ndarray, estimator: MIEstimator, n_resamples: int = 1000,
                  seed: int = 0, confidence: float = 0.95) -> Interval:
    """Percentile bootstrap CI of EMI: resample samples (x, ŷ, y) jointly, estimator fixed."""
    rng = np.random.default_rng(seed)
    return _interval(_emi_draws(x, y_hat, y, estimator, n_resamples, rng), confidence, n_resamples, seed)


def bootstrap_emid(id_split: EmbeddedSplit, ood_split: EmbeddedSplit, estimator: MIEstimator,
                   n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """Percentile bootstrap CI of EMID: the two splits are resampled independently, estimator fixed."""
    _require(id_split, "EMID")
    _require(ood_split, "EMID")
    rng = np.random.default_rng(seed)
    a = _emi_draws(id_split.x, id_split.response, id_split.reference, estimator, n_resamples, rng)  # type: ignore
    b = _emi_draws(ood_split.x, ood_split.response, ood_split.reference, estimator, n_resamples, rng)  # type: ignore
    return _interval(a - b, confidence, n_resamples, seed)
