"""Which term moved, and which records of a window moved it.

- **The term**: the watched term with the largest z = (estimate − null mean) / null standard deviation,
  i.e. the one furthest out in its own no-shift spread at this window's size (raw JSDs of different
  embeddings are not comparable; their null spreads make them so).
- **Each term's share of the bound**: the scale-adjusted bound √visual + √text + JSD(R_Ŷ‖R_Y)^¼ + output
  is a sum, so each input term's part is its summand (:func:`bound_parts`): how much of the window's bound
  the images, the questions, the reference's own answer gap and the window's answer gap make up.
- **The records**, per term:

  - ``visual`` / ``text`` / ``answer``: the cosine distance from the record's embedding to its *nearest*
    reference embedding, 1 − maxⱼ ⟨w, rⱼ⟩ (embeddings are unit vectors). A shifted record is one the
    reference has nothing like; unlike the distance to the reference mean, this does not rank the
    reference's own outlying-but-familiar kinds of queries first, and it needs no classifier trained
    per alert.
  - ``output_shift`` / ``emid``: 1 − ⟨ŷ, y⟩, how far the model's answer is from the reference answer of
    the same record: the records whose answers lost the most.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mllmshift.monitor.embed import Rows
from mllmshift.monitor.terms import JSD_FIELDS


def moved_most(z: Mapping[str, float | None]) -> str | None:
    """The term with the largest finite z (None when none has one)."""
    ok = {t: v for t, v in z.items() if v is not None and math.isfinite(v)}
    return max(ok, key=lambda t: (ok[t], t)) if ok else None


def bound_parts(row: Mapping[str, Any], out_ref: float | None) -> dict[str, Any] | None:
    """The window's bound split into its summands, with each one's share (None without the bound's terms):
    ``{"value", "parts": {visual, text, reference_answers, output}, "shares": {...}}``."""
    parts: dict[str, float] = {}
    for term in ("visual", "text"):
        v = row.get(term)
        if isinstance(v, (int, float)) and math.isfinite(v):
            parts[term] = math.sqrt(max(0.0, float(v)))
    if "text" not in parts or out_ref is None or not isinstance(row.get("output"), (int, float)):
        return None
    parts["reference_answers"] = float(out_ref)
    parts["output"] = float(row["output"])
    total = sum(parts.values())
    return {"value": total, "parts": parts,
            "shares": {k: (v / total if total > 0 else None) for k, v in parts.items()}}


def sample_scores(term: str, reference: Rows, window: Rows, chunk: int = 2048) -> np.ndarray:
    """Per-record scores of ``window`` for ``term`` (see the module docstring); NaN where not defined."""
    if term in JSD_FIELDS:
        w, r = window.field(JSD_FIELDS[term]), reference.field(JSD_FIELDS[term])
        if w is None or r is None:
            return np.full(len(window), np.nan)
        best = np.full(len(w), -np.inf)
        for s in range(0, len(r), chunk):
            best = np.maximum(best, (w @ r[s : s + chunk].T).max(axis=1))
        return 1.0 - best
    scores = 1.0 - np.einsum("ij,ij->i", window.response.astype(np.float64), window.reference.astype(np.float64))
    return np.where(window.labelled, scores, np.nan)


def top_samples(term: str, reference: Rows, window: Rows, k: int) -> list[dict[str, Any]]:
    """The ``k`` records of ``window`` that score highest for ``term``: id, source (file:line), score."""
    scores = sample_scores(term, reference, window)
    order = [i for i in np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable") if np.isfinite(scores[i])]
    return [{"id": window.ids[i], "source": window.sources[i] if window.sources else None,
             "score": float(scores[i])} for i in order[:k]]
