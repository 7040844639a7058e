r"""Per-window statistics of a window W against the reference window R.

Every drift term is a *contrast* between W and a reference sample of a fixed size, so that its null
distribution (:mod:`mllmshift.monitor.null`) can be drawn from R itself at the same sizes. With n = |W|,
m the records of W that have a reference answer, and JSD the configured divergence estimator:

- ``visual``, ``text``, ``answer``: :math:`\mathrm{JSD}(A_{X_v}\|W_{X_v})`, :math:`\mathrm{JSD}(A_{X_t}\|W_{X_t})`,
  :math:`\mathrm{JSD}(A_{\hat Y}\|W_{\hat Y})`, with A a seeded sample of n_R − n records of R (none of them
  sharing an id with W). Needs n_R ≥ 2n.
- ``output``: the answer term of the bound, :math:`\mathrm{JSD}(W_{\hat Y}\|W_Y)^{1/4}`, on the m records.
- ``output_shift``: output(W) − output(B), B a seeded sample of m labelled records of R. Needs ≥ 2m.
- ``emi``: EMI(W) = Î(X; Ŷ) − Î(X; Y) on the m records, with the MI estimator (or ensemble) of
  ``mllmshift emi`` (:func:`mllmshift.evaluation.estimation.get_estimators`, same config, same code) fitted
  on a seeded half of R's labelled records (the *fit half*), or loaded from the config's checkpoint; the
  other half (the *calibration half*) is never trained on.
- ``emid``: EMI(B') − EMI(W), B' a seeded sample of m records of the calibration half (EMIs compare only at
  equal sizes: InfoNCE's estimate on m pairs is capped at ln m). Needs a calibration half of ≥ 2m.
- ``bound``: the scale-adjusted EMID bound between A and W,
  :math:`\sqrt{\mathrm{visual}} + \sqrt{\mathrm{text}} + \mathrm{JSD}(R_{\hat Y}\|R_Y)^{1/4} + \mathrm{output}`.

Confidence intervals resample W's records (B draws, the same draws for every term; A, B and B' fixed)
and are *standard* bootstrap intervals :math:`\hat\theta \pm z_{1-a/2}\,\widehat{\mathrm{SE}}^*`, with SE* the
standard deviation of the resampled values. With the plug-in linear RJSD (the monitor's default) and
``ci="linearised"`` (the default) the drift and answer terms' resamples come from a control-variate bootstrap
(:func:`~mllmshift.monitor.control_variate.with_residuals`): the first-order expansion of the window's estimate
in the records' draw counts (:mod:`mllmshift.monitor.influence`), corrected by
:data:`~mllmshift.monitor.control_variate.EXACT_DRAWS` resamples recomputed exactly (their Grams and eigenvalues
in float32: :data:`~mllmshift.monitor.control_variate.EXACT_SINGLE`);
``ci="resampled"`` recomputes every resample. The estimates are the estimator's own on both paths. Intervals
are centred on the estimate on purpose: a JSD estimate rises when a sample has repeated points, so percentile
intervals would sit above the estimate, and basic intervals (2θ̂ − q) would move onto a bias-corrected scale,
while the alert decisions compare the *estimate* with its no-shift null at the same size. EMI's SE comes from
:func:`mllmshift.metrics.bootstrap_emi`'s draws, taken with the
estimate in one pass per member (:mod:`mllmshift.monitor.window_emi`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from mllmshift.estimators.base import DivergenceEstimator, MIEstimator
from mllmshift.estimators.divergence.rjsd import RJSD
from mllmshift.errors import DataError
from mllmshift.monitor.config import MonitorConfig
from mllmshift.monitor.control_variate import EXACT_DRAWS, EXACT_SINGLE, Linearised, with_residuals
from mllmshift.monitor.embed import Rows
from mllmshift.monitor.influence import (
    PairedWeightedRJSD,
    WeightedRJSD,
    counts,
    influence_parts,
    rjsd_influence,
)
from mllmshift.monitor.window_emi import emi_and_draws, emi_value
from mllmshift.workers import Tasks

#: term → the embedding compared with the reference
JSD_FIELDS = {"visual": "visual", "text": "text", "answer": "response"}


@dataclass(frozen=True)
class TermValue:
    """An estimate and its bootstrap CI (None where it has none)."""

    value: float
    low: float | None = None
    high: float | None = None


@dataclass
class WindowStats:
    """The terms computed for one window, and why the missing ones are missing."""

    values: dict[str, TermValue] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def standard_interval(estimate: float, se: float, confidence: float) -> tuple[float, float]:
    """θ̂ ∓ z·SE with z the standard normal (1 + confidence)/2 quantile."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return float(estimate - z * se), float(estimate + z * se)


class Reference:
    """The reference window, split as the terms need it, with its fitted MI estimator(s) (an ensemble of
    ``n_estimators``; empty without EMI)."""

    def __init__(self, rows: Rows, labelled: np.ndarray, fit: np.ndarray, calibration: np.ndarray,
                 members: Sequence[MIEstimator] = ()) -> None:
        self.rows, self.labelled, self.fit, self.calibration = rows, labelled, fit, calibration
        self.members = tuple(members)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_visual(self) -> bool:
        return self.rows.x_visual is not None


def split_reference(rows: Rows, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labelled indices, fit half, calibration half): a seeded halving of R's labelled records."""
    labelled = np.flatnonzero(rows.labelled)
    perm = np.random.default_rng(seed).permutation(labelled)
    half = (len(perm) + 1) // 2
    return labelled, np.sort(perm[:half]), np.sort(perm[half:])


class TermCalculator:
    """Computes the configured terms of a window (see the module docstring). ``workers``: threads for the exact
    resamples (the run's thread count; the values do not depend on it). ``single``: the exact resamples in
    float32 (:data:`~mllmshift.monitor.control_variate.EXACT_SINGLE`, the default; False gives the float64 ones)."""

    def __init__(self, ref: Reference, cfg: MonitorConfig, divergence: DivergenceEstimator,
                 workers: int = 1, *, single: bool = EXACT_SINGLE) -> None:
        self.ref, self.cfg, self.div, self.workers = ref, cfg, divergence, max(1, int(workers))
        self.single = single  # the exact resamples' Grams and eigenvalues in float32 (:data:`EXACT_SINGLE`)
        self.terms = [t for t in cfg.terms if not (t == "visual" and not ref.has_visual)]
        self.jsd_terms = [t for t in self.terms if t in JSD_FIELDS]
        if not ref.members:
            self.terms = [t for t in self.terms if t not in ("emi", "emid")]
        #: the bootstrap is linearised (:mod:`mllmshift.monitor.influence`) for the plug-in linear RJSD
        self.linearised = (cfg.ci == "linearised" and isinstance(divergence, RJSD)
                           and not divergence.official_unnormalised)
        lab = ref.rows.take(ref.labelled) if len(ref.labelled) >= 2 else None
        self.out_ref = self.output(lab) if lab is not None and "bound" in self.terms else None

    # ------------------------------------------------------------------ single statistics
    def jsd(self, term: str, a: Rows, w: Rows) -> float:
        return max(0.0, float(self.div.divergence(a.field(JSD_FIELDS[term]), w.field(JSD_FIELDS[term]))))

    def output(self, w: Rows) -> float:
        """JSD(W_Ŷ‖W_Y)^¼ on labelled rows."""
        return max(0.0, float(self.div.divergence(w.response, w.reference))) ** 0.25

    def emi(self, w: Rows) -> float:
        """EMI of labelled rows with the reference's estimator(s) (an ensemble's mean; ``metrics.emi``'s value,
        one pass per member: :func:`~mllmshift.monitor.window_emi.emi_value`)."""
        return emi_value(w.x, w.response, w.reference, self.ref.members, self.cfg.eval.bootstrap_scheme)

    # ------------------------------------------------------------------ feasibility
    def jsd_feasible(self, n: int) -> str | None:
        if n < self.cfg.min_records:
            return f"drift terms need at least {self.cfg.min_records} records, the window has {n}"
        if len(self.ref) < 2 * n:
            return (f"drift terms of a {n}-record window need a reference of at least {2 * n} records "
                    f"(it has {len(self.ref)})")
        return None

    def labelled_feasible(self, m: int, term: str) -> str | None:
        if m < self.cfg.min_references:
            return f"{term} needs at least {self.cfg.min_references} records with a reference answer, has {m}"
        pool = len(self.ref.calibration) if term == "emid" else len(self.ref.labelled)
        if term in ("emid", "output_shift") and pool < 2 * m:
            what = "calibration half" if term == "emid" else "labelled reference"
            return f"{term} at {m} records needs a {what} of at least {2 * m} records (it has {pool})"
        return None

    # ------------------------------------------------------------------ one window
    def _sample(self, pool: np.ndarray, size: int, exclude: set[str], rng: np.random.Generator) -> Rows:
        ids = self.ref.rows.ids
        candidates = np.array([i for i in pool if ids[i] not in exclude], dtype=np.int64)
        return self.ref.rows.take(np.sort(rng.choice(candidates, size=size, replace=False)))

    def window(self, w: Rows, seed: int) -> WindowStats:
        """Every configured term of window ``w``; ``seed`` fixes A, B, B' and the bootstrap. The random draws
        are made on this thread, in order; the eigenvalue problems run on the run's threads (:class:`Tasks`),
        all submitted before this thread scores EMI, the longest first: the drift and output terms' values and
        slopes, then their exact resamples (which do not wait for the slopes)."""
        with Tasks(self.workers if self.linearised else 1) as tasks:
            return self._window(w, seed, tasks)

    def _window(self, w: Rows, seed: int, tasks: Tasks) -> WindowStats:
        out = WindowStats()
        n, lab = len(w), np.flatnonzero(w.labelled)
        m, own = len(lab), set(w.ids)
        rng = np.random.default_rng(seed)
        boot = rng.integers(0, n, size=(self.cfg.n_bootstrap, n)) if n else np.zeros((0, 0), np.int64)
        pending: dict[str, Linearised] = {}
        c = counts(boot, n) if self.linearised else None  # the draw counts, shared by the drift and output terms

        why = self.jsd_feasible(n)
        if why is not None:
            out.notes.append(why)
        elif self.jsd_terms:
            a = self._sample(np.arange(len(self.ref)), len(self.ref) - n, own, rng)
            for t in self.jsd_terms:
                if c is not None:
                    f = JSD_FIELDS[t]
                    pending[t] = self._jsd_draws(a.field(f), w.field(f), c, tasks)  # type: ignore[arg-type]
                else:
                    pending[t] = Linearised.done(self.jsd(t, a, w), np.array([self.jsd(t, a, w.take(b)) for b in boot]))

        want_lab = [t for t in ("output", "output_shift", "emi", "emid", "bound") if t in self.terms]
        why = self.labelled_feasible(m, "output") if want_lab else None
        base: Future[float] | None = None
        wl: Rows | None = None
        if why is not None:
            out.notes.append(why)
        elif want_lab:
            wl = w.take(lab)
            if {"output", "output_shift", "bound"} & set(self.terms):
                if c is not None:
                    pending["output"] = self._output_draws(w, lab, c, tasks)
                else:
                    sub = [b[w.labelled[b]] for b in boot]
                    pending["output"] = Linearised.done(
                        self.output(wl), np.array([self.output(w.take(s)) if len(s) >= 2 else np.nan for s in sub]))
                why_shift = self.labelled_feasible(m, "output_shift")
                if "output_shift" in self.terms and why_shift is None:
                    base = tasks.submit(self.output, self._sample(self.ref.labelled, m, own, rng))
                elif "output_shift" in self.terms:
                    out.notes.append(why_shift)  # type: ignore[arg-type]

        for p in pending.values():  # the exact resamples, queued behind every value and slope
            p.start()
        if wl is not None and ("emi" in self.terms or "emid" in self.terms):
            self._emi_terms(out, wl, m, own, rng, seed)
        values: dict[str, float] = {}
        draws: dict[str, np.ndarray] = {}
        for t, p in pending.items():
            values[t], draws[t] = p.result()
            if t != "output" or "output" in self.terms:
                self._put(out, t, values[t], draws[t])
        if base is not None:
            b = base.result()
            self._put(out, "output_shift", values["output"] - b, draws["output"] - b)
        if "bound" in self.terms and "text" in draws and "output" in draws and self.out_ref is not None:
            vis = np.sqrt(draws["visual"]) if "visual" in draws else 0.0
            b_draws = vis + np.sqrt(draws["text"]) + self.out_ref + draws["output"]
            value = (math.sqrt(values["visual"]) if "visual" in values else 0.0) \
                + math.sqrt(values["text"]) + self.out_ref + values["output"]
            self._put(out, "bound", value, b_draws)
        return out

    def _jsd_draws(self, a: np.ndarray, w: np.ndarray, c: np.ndarray, tasks: Tasks) -> Linearised:
        """A drift term and its control-variate bootstrap draws from one pass of eigenvalue problems, on ``tasks``:
        the value (the estimator's), the slopes and a's entropy (:func:`~mllmshift.monitor.influence.influence_parts`)
        now; at :meth:`Linearised.start` the :data:`EXACT_DRAWS` exact resamples (:meth:`WeightedRJSD.parts`,
        which need not a's entropy: it is added when they are combined)."""
        parts = tasks.submit(influence_parts, a, w)

        def start() -> list[Future[Any]]:
            weighted = WeightedRJSD(a, w, single=self.single)
            return [tasks.submit(weighted.parts, ci) for ci in c[:EXACT_DRAWS]]

        def finish(p: tuple[float, Any, np.ndarray, float],
                   exact: list[tuple[float, float]]) -> tuple[float, np.ndarray]:
            resampled = [WeightedRJSD.combine(p[3], s_m, s_b) for s_m, s_b in exact]
            return p[0], with_residuals(p[0] + (c - 1.0) @ p[2], resampled)

        return Linearised(parts, start, finish)

    def _output_draws(self, w: Rows, lab: np.ndarray, c_all: np.ndarray, tasks: Tasks) -> Linearised:
        """output(W) and its linearised bootstrap draws: JSD(W_Ŷ‖W_Y) is expanded in the labelled records'
        weights (both samples carry the same weights) and each draw is put through the ¼ power; NaN where
        a resample holds fewer than 2 labelled records (as the resampled path); ``c_all``: the window's draw
        counts (B × n). On ``tasks``: the value and slopes now, the
        :data:`EXACT_DRAWS` exact resamples (:class:`PairedWeightedRJSD`) at :meth:`Linearised.start`."""
        resp, ref = w.response[lab], w.reference[lab]
        c = c_all[:, lab]
        head = c[:EXACT_DRAWS]
        slopes = tasks.submit(lambda: rjsd_influence(resp, ref, grad_a=True))

        def start() -> list[Future[Any]]:
            paired = PairedWeightedRJSD(resp, ref, single=self.single)
            return [tasks.submit(paired, ci) for ci in head]

        def finish(parts: tuple[float, Any, np.ndarray], exact: list[float]) -> tuple[float, np.ndarray]:
            value, g_a, g_b = parts
            lin = np.maximum(0.0, value + (c - 1.0) @ (g_a + g_b)) ** 0.25
            fourth = [v ** 0.25 if k >= 2 else np.nan for v, k in zip(exact, head.sum(axis=1))]
            draws = with_residuals(lin, fourth)
            return value ** 0.25, np.where(c.sum(axis=1) >= 2, draws, np.nan)

        return Linearised(slopes, start, finish)

    def _emi_terms(self, out: WindowStats, wl: Rows, m: int, own: set[str], rng: np.random.Generator,
                   seed: int) -> None:
        value, draws = emi_and_draws(wl.x, wl.response, wl.reference, self.ref.members, self.cfg.n_bootstrap,
                                     seed, self.cfg.eval.bootstrap_scheme)
        se = float(draws.std(ddof=1)) if len(draws) > 1 else 0.0  # bootstrap_emi's SE
        low, high = standard_interval(value, se, self.cfg.confidence)
        if "emi" in self.terms:
            out.values["emi"] = TermValue(value, low, high)
        if "emid" in self.terms:
            why = self.labelled_feasible(m, "emid")
            if why is not None:
                out.notes.append(why)
                return
            base = self.emi(self._sample(self.ref.calibration, m, own, rng))
            out.values["emid"] = TermValue(base - value, base - high, base - low)

    def _put(self, out: WindowStats, term: str, value: float, draws: np.ndarray) -> None:
        ok = np.asarray(draws, dtype=np.float64)
        ok = ok[np.isfinite(ok)]
        if len(ok) < 2:
            out.values[term] = TermValue(value)
            return
        out.values[term] = TermValue(value, *standard_interval(value, float(np.std(ok, ddof=1)), self.cfg.confidence))


def check_window_fits_reference(cfg: MonitorConfig, n_reference: int) -> None:
    """The size rule of :meth:`TermCalculator.jsd_feasible` (a reference of at least 2 × the window, a window
    of at least ``min_records``) checked from the counts alone, so a window too large for its reference is refused
    in a second instead of after the reference is embedded and the MI estimator fitted (10.7 s at the default
    window of 1,000 on a 200-record reference)."""
    if cfg.window.kind != "count" or not [t for t in cfg.terms if t in JSD_FIELDS and t != "visual"]:
        return
    n = int(cfg.window.size)
    if n < cfg.min_records:
        why = f"drift terms need at least {cfg.min_records} records, the window has {n}"
    elif n_reference < 2 * n:
        why = f"drift terms of a {n}-record window need a reference of at least {2 * n} records (it has {n_reference})"
    else:
        return
    raise DataError(f"{n}: {why}; use a smaller window or a larger reference", field="window")
