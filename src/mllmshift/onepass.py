r"""EMID and its upper bound from one read of each split's rows (issue #23 item 4).

:func:`~mllmshift.metrics.emid` reads each split's X, Ŷ and Y for the EMIs, and
:func:`~mllmshift.bound.emid_upper_bound` reads X_v, X_t, Ŷ and Y again for the four JSD terms. Out of core
(``benchmarks/scale.py``: four files of 3 GB at n = 1,000,000) that is every file read twice, and two passes of
which neither keeps both cores busy. :func:`emid_and_bound` reads each block of rows once and, per block:

- scores it with every CLUB member (:class:`~mllmshift.estimators.mi.club_scoring.CLUBScorer`: μ(x), σ²(x) once
  for Ŷ and Y; X fused from the visual and text blocks already read);
- adds it to the Gram matrices ZᵀZ of X_v, X_t, Ŷ, Y (:class:`~mllmshift.estimators.divergence.rjsd.GramSum`),
  the linear RJSD terms of the bound being functions of those only.

With t ≥ 2 threads (torch's count) the work of a block (four Gram products, each member's terms of each
1,024-row chunk) goes to a :class:`~mllmshift.workers.Tasks` pool of t workers, each computing on one thread;
the main thread adds the results in row order. The numbers are therefore those of the separate calls: the
CLUB sums add the same chunks' terms in the same order (identical), the Gram sums the same 8,192-row products
in the same order; only BLAS's thread count differs, which can move a Gram product by float rounding
(tests/test_onepass.py: equal on its inputs).

Where the joint pass does not apply, :func:`emid_and_bound` is the two separate calls: a member that is not a
plain CLUB (its ``mi_many`` is another formula), a divergence other than linear RJSD (``rjsd-debiased``
re-splits the samples; ``auto`` picks per size), a mapping of divergences, or splits so small that RJSD takes
its n < d row-Gram route.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from mllmshift.bound import BOUND_TERMS, BoundResult, DivergenceChoice, as_divergence, bound_from_terms, \
    emid_upper_bound
from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import JSDTerm, members_of
from mllmshift.estimators.divergence.rjsd import RJSD, GramSum, rjsd_from_grams
from mllmshift.metrics import EMIDResult, Estimators, emi_from_members, emid, emid_from
from mllmshift.sources import FusedSource, iter_blocks
from mllmshift.workers import Tasks

__all__ = ["emid_and_bound", "BLOCK_ROWS"]

#: rows read at a time: the Gram matrices' chunk (:func:`~mllmshift.estimators.divergence.rjsd.gram`), a
#: multiple of every CLUB ``chunk_size`` that divides it (else the separate calls run)
BLOCK_ROWS = 8192


def emid_and_bound(id_split: EmbeddedSplit, ood_split: EmbeddedSplit, estimators: Estimators, *,
                   entropy_scale: float | None = None,
                   divergence: DivergenceChoice = "rjsd") -> tuple[EMIDResult, BoundResult]:
    """``(emid(id, ood, estimators), emid_upper_bound(id, ood, entropy_scale, divergence))`` from one read of
    each split (see the module docstring); the separate calls where the joint pass does not apply."""
    for s in (id_split, ood_split):
        if s.response is None or s.reference is None:
            raise ValueError(f"split '{s.name}' needs responses and references for EMID and its bound")
    if (id_split.x_visual is None) != (ood_split.x_visual is None):
        raise ValueError("one split has a visual input and the other has none")
    members = members_of(estimators)
    div = None if isinstance(divergence, Mapping) else as_divergence(divergence)
    if not (_streams(members) and type(div) is RJSD and _gram_route(id_split, ood_split)):
        return emid(id_split, ood_split, estimators), emid_upper_bound(id_split, ood_split, entropy_scale,
                                                                         divergence)
    emis, grams = [], []
    with Tasks(torch.get_num_threads(), name="onepass") as pool:
        for s in (id_split, ood_split):
            pairs, g = _pass(s, members, pool)
            emis.append(emi_from_members(members, pairs, len(s)))
            grams.append(g)
    unnorm = div.official_unnormalised
    terms: dict[str, JSDTerm] = {}
    pairs_of = {"visual": (grams[0].get("visual"), grams[1].get("visual")), "text": (grams[0]["text"],
                grams[1]["text"]), "id_output": (grams[0]["response"], grams[0]["reference"]),
                "ood_output": (grams[1]["response"], grams[1]["reference"])}
    for key in BOUND_TERMS:
        ga, gb = pairs_of[key]
        if ga is not None and gb is not None:
            terms[key] = JSDTerm(rjsd_from_grams(ga, gb, official_unnormalised=unnorm, clip=not unnorm))
    bound = bound_from_terms(terms, {k: div.label() for k in terms}, entropy_scale)
    return emid_from(emis[0], emis[1]), bound


def _streams(members: tuple[Any, ...]) -> bool:
    """Whether every member is a plain CLUB (its ``mi_many`` the running sums) whose chunks tile a block."""
    from mllmshift.estimators.mi.club import CLUB

    return all(isinstance(m, CLUB) and type(m).mi_many is CLUB.mi_many and type(m)._resampled is CLUB._resampled
               and BLOCK_ROWS % m.cfg.chunk_size == 0 for m in members)


def _gram_route(a: EmbeddedSplit, b: EmbeddedSplit) -> bool:
    """Whether :func:`~mllmshift.estimators.divergence.rjsd.rjsd` takes the d × d Gram route for every term
    (n + m ≥ d for each pair of samples, so 2·min(n_id, n_ood) ≥ d suffices), as the joint pass does."""
    d = max(z.shape[1] for s in (a, b) for z in (s.x_visual, s.x_text, s.response, s.reference) if z is not None)
    return 2 * min(len(a), len(b)) >= d


def _pass(split: EmbeddedSplit, members: tuple[Any, ...],
          pool: Tasks) -> tuple[list[list[float]], dict[str, np.ndarray]]:
    """One read of a split: each member's ``(Î(X;Ŷ), Î(X;Y))`` and the Gram matrices of its inputs and
    outputs. Per block, the tasks (each Gram's product, each member's terms of each chunk) go to the workers;
    the main thread adds their results in row order, a block behind, so the sums are the separate calls'."""
    x, checked = members[0]._checked(split.x, [split.response, split.reference])
    for m in members:
        m.check_dims(np.empty((0, x.shape[1])), np.empty((0, checked[0].shape[1])))
    named = {"visual": split.x_visual, "text": split.x_text, "response": checked[0], "reference": checked[1]}
    named = {k: v for k, v in named.items() if v is not None}
    fused = isinstance(x, FusedSource) and x.visual is split.x_visual and x.text is split.x_text
    text_only = x is split.x_text  # X = Z_t: its block is the text block
    arrays = list(named.values()) + ([] if fused or text_only else [x])
    grams = {k: GramSum(v.shape[1]) for k, v in named.items()}
    scorers = [m.scorer(2) for m in members]
    run = pool.submit
    queue: deque[list[tuple[Callable[[Any], None], Any]]] = deque()

    def drain(tasks: list[tuple[Callable[[Any], None], Any]]) -> None:
        for add, fut in tasks:
            add(fut.result())

    prods = {k: [np.empty((v.shape[1],) * 2, np.float32) for _ in range(2)] for k, v in named.items()}  # drained
    # one block later, so block i's product is added before block i + 2's is written
    slots = [[torch.empty((BLOCK_ROWS // m.cfg.chunk_size, sc.packed_size), dtype=torch.float64,
                            device=m.device) for _ in range(2)]
             for m, sc in zip(members, scorers)]  # each chunk's CLUB terms, kept until added
    xbufs = [np.empty((min(BLOCK_ROWS, len(split)), x.shape[1]), np.float32) for _ in range(2)] if fused else []
    for i, (_, blocks) in enumerate(iter_blocks(arrays, BLOCK_ROWS, ring=3)):  # a block is drained 1 block later
        by_name = dict(zip(named, blocks))
        xb = (x.fuse_blocks(by_name["visual"], by_name["text"], xbufs[i % 2]) if fused  # type: ignore[union-attr]
              else by_name["text"] if text_only else blocks[-1])
        ys = [by_name["response"], by_name["reference"]]
        tasks = [(grams[k].add_product, run(grams[k].product, b, prods[k][i % 2])) for k, b in by_name.items()]
        for sc, m, slot in zip(scorers, members, slots):
            step = m.cfg.chunk_size
            tasks += [(sc.accumulate_packed, run(sc.terms_into, xb[r : r + step], [y[r : r + step] for y in ys],
                                                 slot[i % 2][j]))
                      for j, r in enumerate(range(0, len(xb), step))]
        queue.append(tasks)
        if len(queue) > 1:
            drain(queue.popleft())
    while queue:
        drain(queue.popleft())
    return [sc.values() for sc in scorers], {k: g.value() for k, g in grams.items()}
