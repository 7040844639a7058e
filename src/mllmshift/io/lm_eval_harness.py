"""lm-evaluation-harness samples (``--log_samples``) as a :class:`~mllmshift.records.Split`.

The harness writes ``OUT/<model_name_sanitized>/samples_<task>_<date_id>.jsonl``, one record per document::

    {"doc_id": 0, "doc": {...the dataset row...}, "target": "...",
     "arguments": {"gen_args_0": {"arg_0": "<the prompt>", "arg_1": {...gen_kwargs...}}},
     "resps": [["<raw answer>"]], "filtered_resps": ["<answer>"], "filter": "none", "metrics": [...],
     "doc_hash": ..., "prompt_hash": ..., "target_hash": ..., <metric values>}

The record is lmms-eval's with ``doc`` kept and the arguments keyed, so the lmms-eval reader reads it
(:func:`mllmshift.io.lmms_eval.read_lmms_eval` with ``tool="lm-eval-harness"``): the question is the prompt
(``arguments.gen_args_0.arg_0``), the response ``filtered_resps[0]``, the reference ``target``, the id ``doc_id``;
``columns=`` maps any of them to a dotted path (``question=doc.question``, ``id=doc.id``). ``path`` is a samples
file or a run folder (``--output_path``), ``task=`` picking the task (:mod:`mllmshift.io.run_folders`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mllmshift.records import Split


def read_lm_eval_harness(path: str | os.PathLike[str], *, name: str | None = None,
                         columns: Mapping[str, str] | None = None, task: str | None = None,
                         allow_empty: bool = False, allow_mixed_visual: bool = False) -> Split:
    """Read an lm-evaluation-harness samples file or run folder into a split (see the module docstring)."""
    from mllmshift.io.lmms_eval import read_lmms_eval

    return read_lmms_eval(path, name=name, columns=columns, task=task, tool="lm-eval-harness",
                          allow_empty=allow_empty, allow_mixed_visual=allow_mixed_visual)
