"""AlpacaEval output files (``model_outputs.json``) as a :class:`~mllmshift.records.Split`.

AlpacaEval (tatsu-lab/alpaca_eval) keeps one JSON list per model, ``results/<model>/model_outputs.json``::

    [{"instruction": "...", "output": "...", "generator": "<model>", "dataset": "helpful_base", "datasplit": "eval"},
     ...]

A model is judged against a baseline model's file (``gpt4_1106_preview`` on the 2.0 leaderboard), which is the
natural reference answer Y. :func:`read_alpaca_eval` joins the two files **on** ``instruction``:

- ``id``: ``ae-`` + the first 16 hex digits of the SHA-1 of the instruction (the same for every model, so
  splits of different models pair up, and independent of the files' order);
- ``question``: the instruction (text-only data: no image);
- ``response``: the model's ``output``; ``reference``: the reference file's ``output`` (None without ``references``);
- ``metadata``: ``dataset``, ``datasplit``, ``generator`` and the reference's ``reference_generator`` when given.

Errors name the file, the line where the offending object starts and the field: a missing or non-text
``instruction`` / ``output``, a duplicate instruction (either file), an instruction of the model file that the
reference file lacks, and (``strict=True``, the default) a reference instruction the model did not answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.checks import Origin, finish_split
from mllmshift.records import Sample, Split

FILE_NAME = "model_outputs.json"
#: metadata fields copied from each record when present
META_FIELDS = ("dataset", "datasplit", "generator")


def resolve(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/model_outputs.json`` when ``path`` is a folder (``results/<model>/``)."""
    p = Path(path)
    if p.is_dir():
        p = p / FILE_NAME
    if not p.is_file():
        raise DataError("file not found" if not p.exists() else "not a file", path=p)
    return p


def instruction_id(instruction: str) -> str:
    """The sample id of an instruction: ``ae-`` + 16 hex digits of its SHA-1 (UTF-8)."""
    return "ae-" + hashlib.sha1(instruction.encode("utf-8")).hexdigest()[:16]


def iter_json_array(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, object)`` for each element of a JSON list, ``line`` being where the element starts."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"not valid UTF-8 ({err.reason} at byte {err.start})", path=p) from None
    decoder = json.JSONDecoder()
    lines = _LineCounter(text)
    pos = _skip(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise DataError("expected a JSON list of objects (AlpacaEval model_outputs.json)", path=p, line=lines(pos))
    pos = _skip(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line = lines(pos)
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(f"bad JSON: {err.msg} (column {err.colno})", path=p, line=err.lineno) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", path=p, line=line)
        yield line, obj
        pos = _skip(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            if _skip(text, pos + 1) != len(text):
                raise DataError("unexpected text after the list", path=p, line=lines(pos))
            return
        raise DataError("expected ',' or ']' after an object", path=p, line=lines(pos))


class _LineCounter:
    """Line number (1-based) of a character offset, for offsets that only grow (counts each stretch once)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def __call__(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def looks_like_alpaca_eval(path: str | os.PathLike[str], head_chars: int = 4096) -> bool:
    """True when ``path`` starts like an AlpacaEval output list (a JSON list whose objects have instruction/output)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(head_chars)
    except OSError:
        return False
    return head.lstrip().startswith("[") and '"instruction"' in head and '"output"' in head


def _text_field(obj: dict[str, Any], key: str, path: Path, line: int) -> str:
    value = obj.get(key)
    if value is None:
        raise DataError("missing", path=path, line=line, field=key)
    if not isinstance(value, str):
        raise DataError(f"expected str, got {type(value).__name__}", path=path, line=line, field=key)
    return value


def _index(path: Path) -> dict[str, tuple[int, dict[str, Any]]]:
    """instruction → (line, record), checking instruction and output of every record and duplicates."""
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, obj in iter_json_array(path):
        instruction = _text_field(obj, "instruction", path, line)
        _text_field(obj, "output", path, line)
        if instruction in out:
            raise DataError(f"duplicate instruction (first on line {out[instruction][0]})", path=path, line=line,
                            field="instruction")
        out[instruction] = (line, obj)
    if not out:
        raise DataError("no records", path=path)
    return out


def read_alpaca_eval(path: str | os.PathLike[str], *, references: str | os.PathLike[str] | None = None,
                     name: str | None = None, strict: bool = True, allow_empty: bool = False,
                     allow_mixed_visual: bool = False) -> Split:
    """Read a model's ``model_outputs.json`` (a file, or its folder) and join a reference model's on instruction.

    Args:
        path: the evaluated model's file (or the folder holding ``model_outputs.json``).
        references: the reference model's file or folder (AlpacaEval's baseline); its outputs become Y.
        name: the split's name (default: the model folder's name, e.g. ``Qwen1.5-72B-Chat``).
        strict: every reference instruction must be answered; ``False`` keeps the model's instructions only.
        allow_empty, allow_mixed_visual: the checks of :mod:`mllmshift.io.checks` (an empty ``output`` is a located
            error unless ``allow_empty``).
    Samples keep the model file's order.
    """
    p = resolve(path)
    model = _index(p)
    ref_path = resolve(references) if references is not None else None
    ref = _index(ref_path) if ref_path is not None else None
    samples: list[Sample] = []
    origins: list[Origin] = []
    for instruction, (line, obj) in model.items():
        reference: str | None = None
        metadata = {k: obj[k] for k in META_FIELDS if isinstance(obj.get(k), (str, int, float, bool))}
        if ref is not None:
            if instruction not in ref:
                raise DataError(f"instruction not in the reference file {ref_path}", path=p, line=line,
                                field="instruction")
            r_line, r_obj = ref[instruction]
            reference = r_obj["output"]
            if isinstance(r_obj.get("generator"), str):
                metadata["reference_generator"] = r_obj["generator"]
        samples.append(Sample(id=instruction_id(instruction), question=instruction, response=obj["output"],
                              reference=reference, metadata=metadata))
        fields = {"response": (p, line, "output")}
        if ref is not None:
            fields["reference"] = (ref_path, r_line, "output")
        origins.append(Origin(p, line, fields))
    if ref is not None and strict:
        missing = [(inst, line) for inst, (line, _) in ref.items() if inst not in model]
        if missing:
            raise DataError(f"instruction not answered in {p} ({len(missing)} reference instructions unanswered; "
                            "strict=False keeps the answered ones)", path=ref_path, line=missing[0][1],
                            field="instruction")
    default_name = p.parent.name if p.name == FILE_NAME else p.stem
    meta = {"format": "alpaca-eval", "source": str(p), "references": None if ref_path is None else str(ref_path)}
    return finish_split(name or default_name, samples, origins, meta, allow_empty=allow_empty,
                        allow_mixed_visual=allow_mixed_visual)
