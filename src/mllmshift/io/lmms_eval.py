"""lmms-eval sample logs (``--log_samples``) as a :class:`~mllmshift.records.Split`.

lmms-eval writes one JSON object per evaluated document (``*_samples_<task>.jsonl``;
older versions a ``<task>.json`` with the list under ``"logs"``)::

    {"doc_id": 0, "doc": {...non-image fields of the dataset row...}, "target": "...",
     "arguments": ["<the prompt text>", {...gen_kwargs...}, ...], "resps": [["<raw answer>"]],
     "filtered_resps": ["<answer>"], "doc_hash": ..., "prompt_hash": ..., "target_hash": ..., <metrics>}

Mapping onto :class:`~mllmshift.records.Sample`:

- ``id``: ``doc[id_field]`` when ``id_field`` is given (e.g. ``question_id`` to pair with LLaVA files),
  else ``doc_id``;
- ``question``: ``doc[question_field]`` when given, else the prompt text the model saw
  (``arguments[0]``), else ``doc["question"]``;
- ``response``: ``filtered_resps[0]`` (the first element again if that is a list); ``resps[0][0]``
  only when the log has no ``filtered_resps``;
- ``reference``: ``doc[reference_field]`` when given, else ``target`` (a string, or the first of a
  list of strings; the full list goes to ``metadata["targets"]``);
- ``image``: None (lmms-eval does not log images); ``metadata`` keeps the scalar ``doc`` fields,
  the scalar metric fields and the task name when the log has it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.checks import Origin, finish_split, sample_id
from mllmshift.io.text import read_utf8
from mllmshift.records import Sample, Split

_RESERVED = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "doc_hash", "prompt_hash",
             "target_hash", "input"}


def looks_like_lmms_eval(obj: dict[str, Any]) -> bool:
    """True for a record of an lmms-eval sample log."""
    return "doc_id" in obj and ("filtered_resps" in obj or "resps" in obj)


def _records(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if p.suffix == ".json":
        try:
            obj = json.loads(read_utf8(p))
        except json.JSONDecodeError as err:
            raise DataError(f"bad JSON: {err.msg}", path=p, line=err.lineno) from None
        logs = obj.get("logs") if isinstance(obj, dict) else obj
        if not isinstance(logs, list):
            raise DataError("expected a list of samples (or an object with 'logs')", path=p, field="logs")
        for i, rec in enumerate(logs, start=1):
            if not isinstance(rec, dict):
                raise DataError(f"sample {i} is not an object", path=p, field="logs")
            yield i, rec
        return
    from mllmshift.io.jsonl import iter_jsonl

    yield from iter_jsonl(p)


def _text(value: Any) -> str | None:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def read_lmms_eval(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    id_field: str | None = None,
    question_field: str | None = None,
    reference_field: str | None = None,
    allow_empty: bool = False,
    allow_mixed_visual: bool = False,
) -> Split:
    """Read an lmms-eval sample log (JSONL, or the older JSON with ``logs``) into a split (see module docs)."""
    p = Path(path)
    if not p.is_file():
        raise DataError("file not found", path=p)
    samples: list[Sample] = []
    origins: list[Origin] = []
    seen: dict[str, int] = {}
    for line, rec in _records(p):
        if not looks_like_lmms_eval(rec):
            raise DataError("not an lmms-eval sample record (needs doc_id and filtered_resps or resps)",
                            path=p, line=line, field="doc_id")
        doc = rec.get("doc") if isinstance(rec.get("doc"), dict) else {}
        if id_field is not None:
            if id_field not in doc:
                raise DataError("missing in doc", path=p, line=line, field=f"doc.{id_field}")
            sid = sample_id(doc[id_field], path=p, line=line, field=f"doc.{id_field}")
        else:
            sid = sample_id(rec["doc_id"], path=p, line=line, field="doc_id")
        if sid in seen:
            raise DataError(f"duplicate id '{sid}' (first on line {seen[sid]})", path=p, line=line,
                            field=f"doc.{id_field}" if id_field else "doc_id")
        seen[sid] = line
        if question_field is not None:
            question = doc.get(question_field)
            q_field = f"doc.{question_field}"
        else:
            args = rec.get("arguments")
            question = args[0] if isinstance(args, list) and args and isinstance(args[0], str) else doc.get("question")
            q_field = "arguments[0]"
        if not isinstance(question, str):
            raise DataError("no question text (prompt in arguments[0], doc.question, or pass question_field)",
                            path=p, line=line, field=q_field)
        r_field = "filtered_resps" if "filtered_resps" in rec else "resps"
        response = _text(rec.get(r_field))
        if response is None:
            raise DataError("no text response", path=p, line=line, field=r_field)
        metadata: dict[str, Any] = {k: v for k, v in doc.items() if _scalar(v) and "image" not in k}
        metadata.update({k: v for k, v in rec.items() if k not in _RESERVED and _scalar(v)})
        if reference_field is not None:
            reference = doc.get(reference_field)
            if not isinstance(reference, str):
                raise DataError("missing or not text", path=p, line=line, field=f"doc.{reference_field}")
        else:
            target = rec.get("target")
            reference = _text(target)
            if isinstance(target, list) and all(isinstance(t, str) for t in target):
                metadata["targets"] = list(target)
            if reference is not None and not reference.strip():
                reference = None
        samples.append(Sample(id=sid, question=question, response=response, reference=reference,
                              metadata=metadata))
        origins.append(Origin(p, line, {"question": (p, line, q_field), "response": (p, line, r_field),
                                        "reference": (p, line, f"doc.{reference_field}" if reference_field
                                                      else "target")}))
    if not samples:
        raise DataError("no samples", path=p)
    return finish_split(name or p.stem, samples, origins, {"format": "lmms-eval", "source": str(p)},
                        allow_empty=allow_empty, allow_mixed_visual=allow_mixed_visual)
