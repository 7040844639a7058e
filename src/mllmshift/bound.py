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
split without references (and the bound's value then).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import DivergenceEstimator

BOUND_TERMS = ("visual", "text", "id_output", "ood_output")


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BoundResult:
        return cls(d["value"], d["jsd_visual"], d["jsd_text"], d["jsd_id_output"], d["jsd_ood_output"], d["form"],
                   d["entropy_scale"], None if d.get("estimators") is None else dict(d["estimators"]))


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
                     id_output: tuple[float, str] | None = None) -> BoundResult:
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

    def term(key: str, a: np.ndarray | None, b: np.ndarray | None) -> float | None:
        if a is None or b is None:
            return None
        value = _nonneg(div[key].divergence(a, b))
        used[key] = div[key].label()
        return value

    j_v = term("visual", id_split.x_visual, ood_split.x_visual)
    j_t = term("text", id_split.x_text, ood_split.x_text)
    if id_output is not None and id_split.response is not None and id_split.reference is not None:
        j_p, used["id_output"] = id_output
    else:
        j_p = term("id_output", id_split.response, id_split.reference)
    j_q = term("ood_output", ood_split.response, ood_split.reference)
    return replace(_assemble(j_v, j_t, j_p, j_q, entropy_scale), estimators=used)  # type: ignore[arg-type]


def output_term(split: EmbeddedSplit, divergence: DivergenceChoice) -> tuple[float, str] | None:
    """``(JSD(P_Ŷ‖P_Y), its estimator)`` of a split with responses and references (None otherwise): the ID
    split's output term, to compute once and pass as ``id_output`` to every scenario's bound."""
    if split.response is None or split.reference is None:
        return None
    div = as_divergence(divergence)
    return _nonneg(div.divergence(split.response, split.reference)), div.label()


def id_output_term(bound: BoundResult) -> tuple[float, str] | None:
    """``(JSD(P_Ŷ‖P_Y), its estimator)`` of a bound, to pass as ``id_output`` to the next scenario's bound."""
    if bound.jsd_id_output is None or not bound.estimators or "id_output" not in bound.estimators:
        return None
    return bound.jsd_id_output, bound.estimators["id_output"]


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
