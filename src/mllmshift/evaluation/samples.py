"""Per-sample output (like lm-evaluation-harness's ``--log_samples``): ``samples/<split>.jsonl``.

One JSON object per sample, in the split's order::

    {"id": ..., "emi": c_i, "mi_response": a_i, "mi_reference": b_i,
     "sha256": {"question": ..., "image": ..., "image_text": ..., "response": ..., "reference": ...}}

where a_i and b_i are the sample's pointwise contributions to Î(X;Ŷ) and Î(X;Y) (their means are the
two MIs; means over an ensemble's members) and c_i = a_i − b_i, for estimators that have a pointwise
form (CLUB, sampled CLUB, InfoNCE; null otherwise, and for samples without a reference). The hashes are
SHA-256 of the UTF-8 texts and of the image file's bytes (null where the sample has none), so a row can
be matched to its inputs without storing them. Each row starts with ``doc_id`` (position), ``id`` and
``split``, and carries the texts on request (``--log-samples-text``): :mod:`mllmshift.evaluation.sample_text`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from mllmshift.embeddings import EmbeddedSplit
from mllmshift.estimators.base import MIEstimator
from mllmshift.io.atomic import safe_name  # noqa: F401  (re-exported: its home is the writers)
from mllmshift.io.jsonl import write_jsonl_atomic
from mllmshift.metrics import pointwise_emi
from mllmshift.records import Sample, Split


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_sha(path: str | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def input_hashes(sample: Sample) -> dict[str, str | None]:
    """SHA-256 of a sample's question, image file, image stand-in text, response and reference."""
    return {"question": _sha(sample.question), "image": _file_sha(sample.image), "image_text": _sha(sample.image_text),
            "response": _sha(sample.response), "reference": _sha(sample.reference)}


def split_fingerprint(split: Split) -> str:
    """A content hash of a split: every sample field and, for image paths, the image file's bytes."""
    from mllmshift.provenance import stable_hash

    return stable_hash([[s.to_dict() for s in split], [_file_sha(s.image) for s in split]], 24)


def sample_rows(split: Split, embedded: EmbeddedSplit, estimators: tuple[MIEstimator, ...],
                comparable: bool = True) -> list[dict[str, Any]]:
    """The rows of ``samples/<split>.jsonl`` (see the module docstring); ``comparable`` False (X built unlike
    the ID's) leaves the contributions null."""
    terms = None
    if comparable and embedded.response is not None and embedded.reference is not None:
        terms = pointwise_emi(embedded.x, embedded.response, embedded.reference, estimators)
    rows = []
    for i, s in enumerate(split.samples):
        a = None if terms is None else float(terms[0][i])
        b = None if terms is None else float(terms[1][i])
        rows.append({"id": s.id, "emi": None if terms is None else a - b,  # type: ignore[operator]
                     "mi_response": a, "mi_reference": b, "sha256": input_hashes(s)})
    from mllmshift.evaluation.sample_text import readable

    return readable(rows, split)  # doc_id, id, split first; the texts with --log-samples-text


def write_sample_log(folder: str | os.PathLike[str], name: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``folder/<name>.jsonl`` (the name made file-safe) atomically; returns its path."""
    path = Path(folder) / f"{safe_name(name)}.jsonl"
    write_jsonl_atomic(path, rows)
    return path
