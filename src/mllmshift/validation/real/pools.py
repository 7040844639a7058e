"""Fitting pools and the estimation set of a judged data set (issue #19 item 6: the estimator as a fitted artifact).

A judged data set has M models answering the same items (AlpacaEval: 805 instructions). Fitting one estimator on
all M × n × 2 pooled pairs is what the 12-model suite did (19,320 pairs); with 48 models it is 77,280 pairs, too
slow for the shared 2-core machine, and estimating on the pairs the critic was fitted on overstates MI. So the
items are cut once, by one seeded permutation (``derive_seed(seed, "fit-pools")``) of the sorted sample ids, into

- pool ``A`` (the first ``pool_size`` ids): the **fitting set** every candidate is fitted on,
- pool ``B`` (the next ``pool_size``): a second, disjoint fitting set of the same size, fitted with the same seeds,
  so the change of a split's EMI between the two fits measures what the fitting set does (consistency),
- ``E`` (the next ``estimation_size``, or all the rest): the **estimation set**, the only rows estimates are
  computed on (no estimate is on a pair any fit saw).

Grouping is by sample id: an instruction and every model's answer to it fall in one part, so no instruction is
both fitted and estimated on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mllmshift.provenance import derive_seed

PARTS = ("A", "B", "E")


@dataclass(frozen=True)
class Pools:
    """The sample ids of fitting pools A and B and of the estimation set E (each sorted, pairwise disjoint)."""

    A: tuple[str, ...]
    B: tuple[str, ...]
    E: tuple[str, ...]
    seed: int

    def ids(self, part: str) -> tuple[str, ...]:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return getattr(self, part)  # type: ignore[no-any-return]

    def rows(self, sample_ids: Sequence[str], part: str) -> np.ndarray:
        """Positions in ``sample_ids`` (one split's ids, in its order) of the ids of ``part``, in the split's order."""
        want = set(self.ids(part))
        return np.array([i for i, s in enumerate(sample_ids) if s in want], dtype=np.int64)

    def to_dict(self) -> dict[str, object]:
        return {"seed": self.seed, "sizes": {p: len(self.ids(p)) for p in PARTS}}


def make_pools(sample_ids: Sequence[str], pool_size: int, estimation_size: int | None = None, seed: int = 0) -> Pools:
    """Cut ``sample_ids`` (the items every model answered) into pools A, B and the estimation set E (module docstring)."""
    ids = sorted(set(sample_ids))
    if pool_size < 1:
        raise ValueError("pool_size must be at least 1")
    rest = len(ids) - 2 * pool_size
    e = rest if estimation_size is None else estimation_size
    if e < 2 or e > rest:
        raise ValueError(f"{len(ids)} items cannot hold two pools of {pool_size} and an estimation set of {e}")
    perm = np.random.default_rng(derive_seed(seed, "fit-pools")).permutation(len(ids))
    take = [ids[i] for i in perm]
    return Pools(tuple(sorted(take[:pool_size])), tuple(sorted(take[pool_size : 2 * pool_size])),
                 tuple(sorted(take[2 * pool_size : 2 * pool_size + e])), seed)
