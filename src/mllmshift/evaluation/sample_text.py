"""Per-sample rows a person can read: where each row sits, and its texts on request.

:mod:`mllmshift.evaluation.samples` computes each sample's pointwise MI contributions and the SHA-256 of its
inputs; this module makes the row readable and lines it up with lmms-eval's and lm-eval-harness's samples
files where they overlap:

- always: ``doc_id`` (the sample's position in its split, as in lmms-eval), ``id`` (the sample's own id) and
  ``split`` (the split's name), first;
- with texts (``--log-samples-text``, :func:`sample_texts`; off by default because questions and answers may be
  private): ``input`` (the question, lmms-eval's name), ``filtered_resps`` (``[response]``), ``target`` (the
  reference answer), and the ``image`` path and ``image_text`` stand-in where the sample has them.

The request is held in a context variable for the duration of one run, so the pipeline that writes the rows
needs no extra argument.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from mllmshift.records import Split

_TEXTS: ContextVar[bool] = ContextVar("mllmshift_sample_texts", default=False)


@contextlib.contextmanager
def sample_texts(on: bool = True) -> Iterator[None]:
    """Within the block, per-sample rows carry the sample's texts (see the module docstring)."""
    token = _TEXTS.set(bool(on))
    try:
        yield
    finally:
        _TEXTS.reset(token)


def readable(rows: Sequence[dict[str, Any]], split: Split) -> list[dict[str, Any]]:
    """``rows`` (one per sample of ``split``, in order) with ``doc_id``, ``id`` and ``split`` first, and the texts
    when :func:`sample_texts` asks for them."""
    texts = _TEXTS.get()
    out = []
    for i, (row, s) in enumerate(zip(rows, split.samples, strict=True)):
        r: dict[str, Any] = {"doc_id": i, "id": row.get("id", s.id), "split": split.name}
        r.update((k, v) for k, v in row.items() if k not in r)
        if texts:
            r.update({"input": s.question, "filtered_resps": [] if s.response is None else [s.response],
                      "target": s.reference})
            if s.image is not None:
                r["image"] = s.image
            if s.image_text is not None:
                r["image_text"] = s.image_text
        out.append(r)
    return out
