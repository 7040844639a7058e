r"""The EMID upper bound (Oh et al., ICML 2025, Theorem 4.5) and its four JSD terms.

With the JSDs estimated by a divergence estimator (default ``rjsd-debiased``: linear RJSD minus its mean on
shuffled re-splits, the same estimator at every n):

.. math::

   \widehat{\mathrm{EMID}} \le \hat H\,\big(\sqrt{\mathrm{JSD}(P_{X_v}\|Q_{X_v})}
      + \sqrt{\mathrm{JSD}(P_{X_t}\|Q_{X_t})}\big)
      + 4\,\big(\mathrm{JSD}(P_{\hat Y}\|P_Y)^{1/4} + \mathrm{JSD}(Q_{\hat Y}\|Q_Y)^{1/4}\big).

``entropy_scale=None`` gives the paper code's *scale-adjusted* form (Ĥ = 1 and no factor 4); a number gives
the theorem's form with Ĥ = that number.

A term is None where it cannot be computed: the visual term for text-only data, the output terms for a
split without references (and the bound's value then). Each computed term keeps what its estimator knows of its
precision (:class:`~mllmshift.estimators.base.JSDTerm`: ``rjsd-debiased`` gives a resolution from its null spread
and an interval), so a term clipped to 0 reads "< r", not 0.

**The bound is checked** (:func:`check_bound`): every scenario with an EMID reports, for both forms, whether
EMID ≤ bound, and whether it still fails with every term at the upper end of its interval.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import DivergenceEstimator, JSDTerm

BOUND_TERMS = ("visual", "text", "id_output", "ood_output")
#: BoundResult field of each term
TERM_FIELDS = {"visual": "jsd_visual", "text": "jsd_text", "id_output": "jsd_id_output", "ood_output": "jsd_ood_output"}
#: an ID output term passed on to later scenarios: (value, estimator name) or (value, name, its JSDTerm)
IdOutput = tuple[float, str] | tuple[float, str, JSDTerm]


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
    #: each computed term with its resolution and interval (:class:`~mllmshift.estimators.base.JSDTerm`)
    terms: Mapping[str, JSDTerm] | None = None

    @property
    def below_resolution(self) -> tuple[str, ...]:
        """The terms whose estimate is below their estimator's resolution (reported as "< r")."""
        return tuple(k for k, t in (self.terms or {}).items() if t.below_resolution)

    def shown(self, term: str) -> str:
        """A term as text: ``< r`` below its resolution, else the value (``n/a`` when not computed)."""
        t = (self.terms or {}).get(term)
        v = getattr(self, TERM_FIELDS[term])
        if v is None:
            return "n/a"
        return f"<{t.resolution:.3g}" if t is not None and t.below_resolution else f"{v:.4f}"

    def high(self) -> float | None:
        """The bound with every term at the upper end of its interval (its value where a term has none); a term
        below its estimator's resolution r is read as "< r", so its upper end is at least r, never a bare 0."""
        if self.value is None:
            return None
        hi = {k: _upper(t) for k, t in (self.terms or {}).items()}
        vals = [hi.get(k, getattr(self, TERM_FIELDS[k])) for k in BOUND_TERMS]
        return _assemble(*vals, self.entropy_scale).value  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["estimators"] = dict(self.estimators) if self.estimators is not None else None
        out["terms"] = None if self.terms is None else {k: t.to_dict() for k, t in self.terms.items()}
        out["below_resolution"] = list(self.below_resolution)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BoundResult:
        terms = d.get("terms")
        return cls(d["value"], d["jsd_visual"], d["jsd_text"], d["jsd_id_output"], d["jsd_ood_output"], d["form"],
                   d["entropy_scale"], None if d.get("estimators") is None else dict(d["estimators"]),
                   None if terms is None else {k: JSDTerm.from_dict(t) for k, t in terms.items()})


def _upper(term: JSDTerm) -> float:
    """The upper end of what ``term`` can be: its interval's high end (else its value), raised to its resolution
    when the estimate is below it."""
    top = term.high if term.high is not None else term.value
    return max(top, term.resolution) if term.below_resolution and term.resolution is not None else top


DivergenceChoice = DivergenceEstimator | Callable[[np.ndarray, np.ndarray], float] | str | None


class _FunctionDivergence(DivergenceEstimator):
    """A plain function ``(a, b) -> float`` used as a divergence estimator, named after the function."""

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], float]) -> None:
        self.fn = fn
        self.name = fn.__name__ if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__name__

    def divergence(self, a: Any, b: Any) -> float:
        return float(self.fn(a, b))


def as_divergence(choice: DivergenceChoice) -> DivergenceEstimator:
    """A divergence estimator from an estimator, a function, a registered name, or None (the default)."""
    from mllmshift.estimators.defaults import build_divergence
    from mllmshift.vocab import DEFAULT_DIVERGENCE

    if choice is None:
        choice = DEFAULT_DIVERGENCE
    if isinstance(choice, str):
        return build_divergence(choice)
    if isinstance(choice, DivergenceEstimator):
        return choice
    if not callable(choice):
        raise TypeError(f"a divergence must be an estimator, a function (a, b) -> float or a registered name, "
                        f"got {type(choice).__name__}")
    return _FunctionDivergence(choice)


def _divergences(divergence: DivergenceChoice | Mapping[str, DivergenceChoice]) -> dict[str, DivergenceEstimator]:
    if isinstance(divergence, Mapping):
        unknown = set(divergence) - set(BOUND_TERMS)
        if unknown:
            raise ValueError(f"unknown bound terms {sorted(unknown)}; terms are {BOUND_TERMS}")
        return {t: as_divergence(divergence.get(t)) for t in BOUND_TERMS}
    shared = as_divergence(divergence)
    return {t: shared for t in BOUND_TERMS}


def emid_upper_bound(id_split: EmbeddedSplit, ood_split: EmbeddedSplit, entropy_scale: float | None = None,
                     divergence: DivergenceChoice | Mapping[str, DivergenceChoice] = None,
                     id_output: IdOutput | None = None) -> BoundResult:
    """The EMID upper bound and its four JSD terms (see the module docstring).

    Args:
        entropy_scale: None for the scale-adjusted form; Ĥ for the theorem's form.
        divergence: one JSD estimator for all four terms (an estimator, a function ``(a, b) -> float``
            or a registered name such as ``"rjsd"``), or a mapping from ``visual``, ``text``,
            ``id_output``, ``ood_output`` to such (missing terms use the default). Default:
            :data:`~mllmshift.vocab.DEFAULT_DIVERGENCE` (``"rjsd-debiased"``: linear RJSD minus its mean on
            shuffled re-splits). Pass ``"rjsd"`` for the paper's plug-in estimator.
        id_output: JSD(P_Ŷ‖P_Y) and the name of its estimator from an earlier call with the same ID
            split and divergence (``(b.jsd_id_output, b.estimators["id_output"])``). The term does
            not depend on the shifted split, so comparing one ID split with many scenarios computes
            it once (:func:`id_output_term`).
    """
    div = _divergences(divergence)
    if (id_split.x_visual is None) != (ood_split.x_visual is None):
        raise ValueError("one split has a visual input and the other has none")
    used: dict[str, str] = {}
    details: dict[str, JSDTerm] = {}

    def term(key: str, a: np.ndarray | None, b: np.ndarray | None) -> float | None:
        if a is None or b is None:
            return None
        t = div[key].term(a, b)
        value = _nonneg(t.value)
        details[key] = replace(t, value=value)
        used[key] = div[key].label()
        return value

    j_v = term("visual", id_split.x_visual, ood_split.x_visual)
    j_t = term("text", id_split.x_text, ood_split.x_text)
    if id_output is not None and id_split.response is not None and id_split.reference is not None:
        j_p, used["id_output"] = id_output[0], id_output[1]
        details["id_output"] = id_output[2] if len(id_output) > 2 else JSDTerm(j_p)  # type: ignore[misc]
    else:
        j_p = term("id_output", id_split.response, id_split.reference)
    j_q = term("ood_output", ood_split.response, ood_split.reference)
    return replace(_assemble(j_v, j_t, j_p, j_q, entropy_scale), estimators=used,  # type: ignore[arg-type]
                   terms=details)


def bound_from_terms(terms: Mapping[str, JSDTerm], labels: Mapping[str, str],
                     entropy_scale: float | None = None) -> BoundResult:
    """The bound from its terms as :func:`emid_upper_bound` computes them (``terms`` by name of
    :data:`BOUND_TERMS`, a missing one None; ``labels``: each term's estimator), for a caller that estimated
    them another way (:mod:`mllmshift.onepass`: the Gram matrices from the read that scores the EMIs).
    Values below 0 become 0, as there."""
    details = {k: replace(t, value=_nonneg(t.value)) for k, t in terms.items()}
    vals = [details[k].value if k in details else None for k in BOUND_TERMS]
    return replace(_assemble(*vals, entropy_scale), estimators={k: labels[k] for k in details},  # type: ignore[arg-type]
                   terms=details)


def output_term(split: EmbeddedSplit, divergence: DivergenceChoice) -> IdOutput | None:
    """``(JSD(P_Ŷ‖P_Y), its estimator, the term with its resolution)`` of a split with responses and references
    (None otherwise): the ID split's output term, to compute once and pass as ``id_output`` to every scenario's
    bound."""
    if split.response is None or split.reference is None:
        return None
    div = as_divergence(divergence)
    t = div.term(split.response, split.reference)
    value = _nonneg(t.value)
    return value, div.label(), replace(t, value=value)


def id_output_term(bound: BoundResult) -> IdOutput | None:
    """``(JSD(P_Ŷ‖P_Y), its estimator[, its term])`` of a bound, to pass as ``id_output`` to the next scenario's
    bound."""
    if bound.jsd_id_output is None or not bound.estimators or "id_output" not in bound.estimators:
        return None
    t = (bound.terms or {}).get("id_output")
    if t is None:
        return bound.jsd_id_output, bound.estimators["id_output"]
    return bound.jsd_id_output, bound.estimators["id_output"], t


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


# ---------------------------------------------------------------------------------------------- the check
@dataclass(frozen=True)
class BoundCheck:
    """Whether EMID ≤ the bound in one form.

    ``entropy_scale`` is Ĥ of the theorem's form (None for the scale-adjusted one) and ``entropy_source`` says
    where it came from (``given``: ``--entropy-scale``; ``ln n``: :func:`conservative_entropy_scale`);
    ``value_high`` is the bound with every term at the upper end of its interval. ``holds`` is EMID ≤ value;
    ``holds_within_resolution`` EMID ≤ value_high: a violation there too is not explained by the terms' noise.
    """

    form: str
    entropy_scale: float | None
    entropy_source: str
    emid: float
    value: float
    value_high: float

    @property
    def holds(self) -> bool:
        return self.emid <= self.value

    @property
    def holds_within_resolution(self) -> bool:
        return self.emid <= self.value_high

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "holds": self.holds, "holds_within_resolution": self.holds_within_resolution}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BoundCheck:
        return cls(d["form"], d["entropy_scale"], d["entropy_source"], float(d["emid"]), float(d["value"]),
                   float(d["value_high"]))


def conservative_entropy_scale(n: int) -> float:
    r"""Ĥ = ln n: the theorem's entropy factor when none is given.

    In Theorem 4.5 Ĥ bounds the entropy of the answer distributions; the empirical distribution of n answers has
    entropy at most ln n, and n pairs support at most ln n nats of MI (:func:`mllmshift.metrics.data_limit`), so
    ln n is the largest Ĥ the data can give. Taking the largest makes the theorem's bound as loose as the data
    allow: a violation of it is a violation for every smaller admissible Ĥ, never an artefact of guessing Ĥ low.
    """
    return math.log(n) if n > 1 else 0.0


def check_bound(emid: float | None, bound: BoundResult, n: int) -> tuple[BoundCheck, ...]:
    """EMID against the bound in both forms (the scale-adjusted one, and the theorem's with the Ĥ the bound was
    computed with, else :func:`conservative_entropy_scale` of ``n``, the larger split's size); empty without an
    EMID or a bound value."""
    if emid is None or bound.value is None or math.isnan(emid):
        return ()
    terms = [getattr(bound, TERM_FIELDS[k]) for k in BOUND_TERMS]
    out = []
    given = bound.entropy_scale
    for form, scale, source in (("scale-adjusted", None, "none"),
                                ("theorem", given if given is not None else conservative_entropy_scale(n),
                                 "given" if given is not None else "ln n")):
        b = replace(bound, **{"value": _assemble(*terms, scale).value, "entropy_scale": scale, "form": form})
        out.append(BoundCheck(form, scale, source, float(emid), float(b.value), float(b.high())))  # type: ignore[arg-type]
    return tuple(out)
