"""Exact identity of embedding rows: a short digest of each row's float32 bytes.

Estimators that must recognise a row they have seen (the cross-fitted estimator finds the fold of an input, the
pooled-bank InfoNCE leaves the scored answer out of its negatives) key rows by :func:`row_digests`. Equal rows
(the same text through the same encoder) give equal digests; rows that differ in any bit do not.
"""

from __future__ import annotations

import hashlib

import numpy as np

DIGEST_BYTES = 16


def row_digests(a: np.ndarray) -> list[bytes]:
    """A BLAKE2b digest (16 bytes) of each row's float32 bytes."""
    rows = np.ascontiguousarray(a, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"expected a 2-D array of rows, got shape {rows.shape}")
    return [hashlib.blake2b(r.tobytes(), digest_size=DIGEST_BYTES).digest() for r in rows]
