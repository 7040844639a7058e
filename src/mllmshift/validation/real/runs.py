"""The units of work of the real-data suite, each cached as one JSON file so a rerun resumes.

- :func:`run_member`: fit one MI estimator (a :class:`~.configs.MemberSpec` with a seed) on the pooled pairs
  of a data set's real splits, then estimate Î(X;Ŷ) and Î(X;Y) on every split, every subset of a split, and
  every sanity split (which are not in the pool: they are new models scored by the fitted estimator).
- :func:`run_jsd`: the four JSD terms of the EMID bound of every scenario against the ID split.

Files: ``<out>/runs/<data set>/mi/<member label>/seed-<k>.json`` and ``<out>/runs/llava/jsd/<label>/seed-<k>.json``,
each holding the spec it was made with; a file whose spec differs from the requested one is recomputed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator
from mllmshift.io.atomic import atomic_write_text
from mllmshift.validation.real.configs import JSDConfig, MemberSpec


@dataclass(frozen=True)
class Dataset:
    """Embedded real splits (pooled for fitting), row subsets of some of them, and sanity splits.

    ``scenarios`` maps a shifted split's name to its metadata (LLaVA-Bench: group, severity, level);
    ``id_split`` names the in-distribution split when there is one.
    """

    name: str
    splits: tuple[EmbeddedSplit, ...]
    subsets: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    sanity: tuple[EmbeddedSplit, ...] = ()
    id_split: str | None = None
    scenarios: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: the pooled pairs a member is fitted on when they are not ``splits`` (a declared fitting set, :mod:`.pools`)
    fit_splits: tuple[EmbeddedSplit, ...] | None = None
    #: bootstrap resamples of each split's rows for its EMI interval (0: none); see :func:`bootstrap_emis`
    bootstrap: int = 0

    def split(self, name: str) -> EmbeddedSplit:
        return next(s for s in self.splits if s.name == name)


def _pair(est: MIEstimator, s: EmbeddedSplit) -> dict[str, Any]:
    assert s.response is not None and s.reference is not None
    return {"mi_response": float(est.mi(s.x, s.response)), "mi_reference": float(est.mi(s.x, s.reference)),
            "n": len(s), "ceiling": est.ceiling(len(s))}


def fit_member(spec: MemberSpec, seed: int, splits: Sequence[EmbeddedSplit]) -> MIEstimator:
    """``spec``'s estimator with ``seed``, fitted on the pooled pairs of ``splits`` as the pipeline fits it
    (:func:`~mllmshift.estimators.fitting.fit_members`), or, for ``groups="items"`` (a cross-fitted estimator
    only), with the sample ids as its fold groups."""
    from mllmshift.estimators import mi_estimators
    from mllmshift.estimators.fitting import fit_members, pooled_groups, pooled_pairs
    from mllmshift.estimators.mi.crossfit import CrossFitMI

    cls = mi_estimators.get(spec.name)
    if spec.groups == "rows":
        return fit_members(cls, splits, 1, seed, **dict(spec.options))[0]
    if not (isinstance(cls, type) and issubclass(cls, CrossFitMI)):
        raise ValueError(f"member '{spec.label}': groups='items' needs a cross-fitted estimator")
    x, y = pooled_pairs(splits)
    return cls(x.shape[1], y.shape[1], seed=seed, **dict(spec.options)).fit(x, y, groups=pooled_groups(splits))


def run_member(spec: MemberSpec, seed: int, data: Dataset) -> dict[str, Any]:
    """Fit, then estimate both MIs on every split, subset and sanity split; timings in seconds."""
    t0 = time.perf_counter()
    est = fit_member(spec, seed, data.splits if data.fit_splits is None else data.fit_splits)
    t1 = time.perf_counter()
    splits = {s.name: _pair(est, s) for s in data.splits}
    subsets = {name: {sub: _pair(est, data.split(name).subset(idx)) for sub, idx in parts.items()}
               for name, parts in data.subsets.items()}
    t2 = time.perf_counter()
    sanity = {s.name: _pair(est, s) for s in data.sanity}
    t3 = time.perf_counter()
    # an estimator without a resampling form of its own would refit its estimate B times per split (the Gaussian:
    # B × 48 covariance fits); its coverage is left out rather than paid for
    fast = type(est).mi_resampled is not MIEstimator.mi_resampled
    boot = {s.name: bootstrap_emis(est, s, data.bootstrap) for s in data.splits} if data.bootstrap and fast else {}
    history = {k: v for k, v in getattr(est, "history", {}).items() if isinstance(v, (int, float, str))}
    return {"member": spec.to_dict(), "seed": seed, "dataset": data.name, "estimator": est.config(),
            "history": history, "fit_seconds": t1 - t0, "eval_seconds": time.perf_counter() - t1,
            "eval_real_seconds": t2 - t1, "splits": splits, "subsets": subsets, "sanity": sanity,
            **({"bootstrap_emi": boot, "bootstrap_seconds": time.perf_counter() - t3} if boot else {})}


def bootstrap_emis(est: MIEstimator, s: EmbeddedSplit, resamples: int) -> list[float]:
    """EMI of ``s`` on ``resamples`` bootstrap resamples of its rows, the estimator fixed. The resamples depend only
    on the split's name (``derive_seed(0, "coverage", name)``), so every member of an ensemble sees the same ones
    and the ensemble's interval takes replicate b from member b mod K (the package's interval)."""
    from mllmshift.provenance import derive_seed
    from mllmshift.resampling import MatrixWeights, multinomial_counts

    assert s.response is not None and s.reference is not None
    rng = np.random.default_rng(derive_seed(0, "coverage", s.name))
    r = est.mi_resampled(s.x, [s.response, s.reference], MatrixWeights(multinomial_counts(len(s), resamples, rng)))
    return [float(v) for v in r[0] - r[1]]


def run_small_n(spec: MemberSpec, seed: int, data: Dataset, names: Sequence[str]) -> dict[str, Any]:
    """Fit on each split of ``names`` alone (what ``mllmshift emi FILE`` does with one file) and estimate both MIs
    on it: the small-n unit (LLaVA-Bench: n = 90, 180 pooled pairs)."""
    t0 = time.perf_counter()
    splits = {}
    for name in names:
        s = data.split(name)
        splits[name] = _pair(fit_member(spec, seed, [s]), s)
    return {"member": spec.to_dict(), "seed": seed, "dataset": data.name, "names": list(names),
            "seconds": time.perf_counter() - t0, "splits": splits}


def run_jsd(cfg: JSDConfig, seed: int, data: Dataset) -> dict[str, Any]:
    """The bound's four JSD terms for every scenario of ``data`` against its ID split, and the time taken."""
    from mllmshift.estimators.defaults import build_divergence
    from mllmshift.metrics import emid_upper_bound, id_output_term

    if data.id_split is None:
        raise ValueError(f"data set '{data.name}' has no ID split")
    div = build_divergence(cfg.name, seed=seed, **dict(cfg.options))
    id_e = data.split(data.id_split)
    t0 = time.perf_counter()
    terms: dict[str, dict[str, float | None]] = {}
    id_output = None
    for name in data.scenarios:
        b = emid_upper_bound(id_e, data.split(name), None, divergence=div, id_output=id_output)
        id_output = id_output or id_output_term(b)
        terms[name] = {"visual": b.jsd_visual, "text": b.jsd_text, "id_output": b.jsd_id_output,
                       "ood_output": b.jsd_ood_output}
    return {"jsd": cfg.to_dict(), "seed": seed, "dataset": data.name, "estimator": div.config(),
            "seconds": time.perf_counter() - t0, "terms": terms}


def cached(path: Path, spec: Mapping[str, Any], key: str, compute: Any) -> tuple[dict[str, Any] | None, bool]:
    """``(the JSON at path, True)`` when it was made with ``spec`` (under ``key``), else ``(compute(), False)``
    after writing the new result there; ``compute=None`` (read the cache only): ``(None, False)`` instead."""
    if path.is_file():
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and obj.get(key) == dict(spec):
            return obj, True
    if compute is None:
        return None, False
    obj = compute()
    atomic_write_text(path, json.dumps(obj, indent=1, default=_json_default) + "\n")
    return obj, False


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
