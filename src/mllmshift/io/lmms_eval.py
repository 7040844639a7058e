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

Current lmms-eval versions write the prompt as ``input`` and drop ``doc`` and ``arguments``; the question is
then ``input``. ``path`` may also be a run folder (``--output_path``; :mod:`mllmshift.io.run_folders`), with
``task=`` picking the task. ``columns={"image_text": "doc.caption", ...}`` maps any sample field (``id``,
``question``, ``response``, ``reference``, ``image_text``, ``image``) to a dotted path into the record
(``doc.caption``, ``input``, ``target``, ``arguments.gen_args_0.arg_0``, ``resps.0.0``): a caption kept in
``doc`` stands in for the image, as VLMEvalKit's ``caption`` column does. The same reader reads
lm-evaluation-harness's samples (``tool="lm-eval-harness"``: :mod:`mllmshift.io.lm_eval_harness`), whose records
keep ``doc`` and give the prompt as ``arguments.gen_args_0.arg_0``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
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


#: the sample fields ``columns=`` may map
COLUMN_FIELDS = ("id", "question", "response", "reference", "image_text", "image")
_MISSING = object()


def lookup(rec: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``doc.caption``, ``resps.0.0``) in a record, or a sentinel when absent; a bare
    name the record lacks is looked up in its ``doc`` (``caption`` = ``doc.caption``)."""
    if "." not in dotted and isinstance(rec, dict) and dotted not in rec and isinstance(rec.get("doc"), dict):
        dotted = f"doc.{dotted}"
    value = rec
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _prompt(rec: dict[str, Any]) -> tuple[Any, str]:
    """The prompt the model saw and where it was found: ``input`` (lmms-eval today), ``arguments[0]``
    (older lmms-eval), ``arguments.gen_args_0.arg_0`` or ``arguments[0][0]`` (lm-evaluation-harness)."""
    if isinstance(rec.get("input"), str):
        return rec["input"], "input"
    args = rec.get("arguments")
    if isinstance(args, list) and args:
        first = args[0]
        if isinstance(first, str):
            return first, "arguments[0]"
        if isinstance(first, list) and first and isinstance(first[0], str):
            return first[0], "arguments[0][0]"
    if isinstance(args, dict):
        value = lookup(args, "gen_args_0.arg_0")
        if isinstance(value, str):
            return value, "arguments.gen_args_0.arg_0"
    return _MISSING, "input" if "input" in rec else "arguments[0]"


def read_lmms_eval(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    id_field: str | None = None,
    question_field: str | None = None,
    reference_field: str | None = None,
    columns: Mapping[str, str] | None = None,
    task: str | None = None,
    tool: str = "lmms-eval",
    allow_empty: bool = False,
    allow_mixed_visual: bool = False,
) -> Split:
    """Read an lmms-eval sample log (JSONL, or the older JSON with ``logs``), or the samples file of ``task`` in a
    run folder, into a split (see module docs)."""
    from mllmshift.io.run_folders import pick_task_file

    p = Path(path)
    if p.is_dir():
        p, task_name = pick_task_file(p, tool, task)
        name = name or task_name
    elif task is not None:
        raise DataError("--task picks a task in a run folder; this is one samples file", path=p, field="--task")
    if not p.is_file():
        raise DataError("file not found", path=p)
    cols = dict(columns or {})
    unknown = sorted(set(cols) - set(COLUMN_FIELDS))
    if unknown:
        raise DataError(f"--columns names unknown field(s) {unknown}; fields are {', '.join(COLUMN_FIELDS)}",
                        path=p, field="--columns")
    for fld, given in (("id", id_field), ("question", question_field), ("reference", reference_field)):
        if given is not None:
            cols.setdefault(fld, f"doc.{given}")
    samples: list[Sample] = []
    origins: list[Origin] = []
    seen: dict[str, int] = {}
    for line, rec in _records(p):
        if not looks_like_lmms_eval(rec):
            raise DataError("not an lmms-eval sample record (needs doc_id and filtered_resps or resps)",
                            path=p, line=line, field="doc_id")
        doc = rec.get("doc") if isinstance(rec.get("doc"), dict) else {}
        id_path = cols.get("id", "doc_id")
        raw_id = lookup(rec, id_path)
        if raw_id is _MISSING:
            raise DataError("missing", path=p, line=line, field=id_path)
        sid = sample_id(raw_id, path=p, line=line, field=id_path)
        if sid in seen:
            raise DataError(f"duplicate id '{sid}' (first on line {seen[sid]})", path=p, line=line, field=id_path)
        seen[sid] = line
        if "question" in cols:
            q_field = cols["question"]
            question = lookup(rec, q_field)
        else:
            question, q_field = _prompt(rec)
            if question is _MISSING and isinstance(doc.get("question"), str):
                question, q_field = doc["question"], "doc.question"
        if not isinstance(question, str):
            raise DataError("no question text (the prompt in input or arguments, doc.question, or map one with "
                            "--columns question=doc.FIELD)", path=p, line=line, field=q_field)
        r_field = cols.get("response", "filtered_resps" if "filtered_resps" in rec else "resps")
        response = _text(lookup(rec, r_field))
        if response is None:
            raise DataError("no text response", path=p, line=line, field=r_field)
        extra: dict[str, Any] = {}
        for fld in ("image_text", "image"):
            if fld in cols:
                value = lookup(rec, cols[fld])
                if value is _MISSING:
                    raise DataError("missing", path=p, line=line, field=cols[fld])
                # a list of captions (COCO has five) is one stand-in text, as the LLaVA captions reader makes it
                text = " ".join(v.strip() for v in value if isinstance(v, str)) if isinstance(value, list) else value
                if value is not None and not isinstance(text, str):
                    raise DataError("not text", path=p, line=line, field=cols[fld])
                extra[fld] = text
        metadata: dict[str, Any] = {k: v for k, v in doc.items() if _scalar(v) and "image" not in k}
        metadata.update({k: v for k, v in rec.items() if k not in _RESERVED and _scalar(v)})
        if "reference" in cols:
            reference = lookup(rec, cols["reference"])
            if not isinstance(reference, str):
                raise DataError("missing or not text", path=p, line=line, field=cols["reference"])
        else:
            target = rec.get("target")
            reference = _text(target)
            if isinstance(target, list) and all(isinstance(t, str) for t in target):
                metadata["targets"] = list(target)
            if reference is not None and not reference.strip():
                reference = None
        samples.append(Sample(id=sid, question=question, response=response, reference=reference,
                              metadata=metadata, **extra))
        origins.append(Origin(p, line, {"question": (p, line, q_field), "response": (p, line, r_field),
                                        "reference": (p, line, cols.get("reference", "target")),
                                        **{f: (p, line, cols[f]) for f in extra}}))
    if not samples:
        raise DataError("no samples", path=p)
    return finish_split(name or p.stem, samples, origins, {"format": tool, "source": str(p)},
                        allow_empty=allow_empty, allow_mixed_visual=allow_mixed_visual)
