"""Readers and writers for the formats evaluation sets and responses come in.

- :mod:`mllmshift.io.jsonl`: the canonical JSONL record (one :class:`~mllmshift.records.Sample` a line).
- :mod:`mllmshift.io.llava`: LLaVA answer files (questions, responses and references joined on ``question_id``).
- :mod:`mllmshift.io.hf`: a Hugging Face ``datasets`` dataset saved to disk, or Parquet, with a column mapping.

:func:`read_split` picks the reader from a spec.
"""

from mllmshift.io.jsonl import iter_jsonl, read_canonical, write_canonical
from mllmshift.io.readers import read_split

__all__ = ["iter_jsonl", "read_canonical", "write_canonical", "read_split"]
