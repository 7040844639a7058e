"""The LLaVA-Bench judge request: context, question, two answers, the category's rule.

The user message is, exactly as in LLaVA's ``eval_gpt_review_visual.py``::

    [Context]
    <caption 1>
    ...
    <caption k>

    <object>: [x1, y1, x2, y2]
    ...

    [Question]
    <question>

    [Assistant 1]
    <answer 1>

    [End of Assistant 1]

    [Assistant 2]
    <answer 2>

    [End of Assistant 2]

    [System]
    <rule prompt>

with the boxes block only when boxes exist and the ``[Context]`` block only when
there is a context. A multimodal judge gets the image as a content part before
this text. Assistant 1 is the reference answer and Assistant 2 the evaluated
model's, unless the order is swapped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.judge.rules import JudgeRule

SYSTEM_PROMPT = "You are a helpful and precise assistant for checking the quality of the answer."


def format_context(captions: Sequence[str] | str | None, boxes: Sequence[tuple[str, Sequence[float]]] = ()) -> str:
    """Captions one a line, then a blank line and ``category: [x1, y1, x2, y2]`` one a line when boxes exist."""
    if captions is None:
        cap = ""
    elif isinstance(captions, str):
        cap = captions
    else:
        cap = "\n".join(captions)
    if boxes:
        box = "\n".join(f"{name}: {list(bbox)}" for name, bbox in boxes)
        return f"{cap}\n\n{box}" if cap else box
    return cap


def read_contexts(path: str | os.PathLike[str]) -> dict[str, str]:
    """Image name → judge context from a captions file (``image`` with ``captions`` (list) or ``caption``
    (string), and optional ``instances`` of ``{"category", "bbox"}``), e.g. ``captions_boxes.jsonl``."""
    from mllmshift.io.jsonl import iter_jsonl, require_field

    p = Path(path)
    out: dict[str, str] = {}
    for lineno, obj in iter_jsonl(p):
        image = require_field(obj, "image", p, lineno)
        if "captions" in obj:
            caps = require_field(obj, "captions", p, lineno, kinds=(list,))
            if not all(isinstance(c, str) for c in caps):
                raise DataError("expected a list of strings", path=p, line=lineno, field="captions")
        else:
            caps = require_field(obj, "caption", p, lineno)
        boxes: list[tuple[str, list[float]]] = []
        for i, inst in enumerate(obj.get("instances") or []):
            ok = isinstance(inst, dict) and isinstance(inst.get("category"), str) and \
                isinstance(inst.get("bbox"), list) and len(inst["bbox"]) == 4 and \
                all(isinstance(v, (int, float)) for v in inst["bbox"])
            if not ok:
                raise DataError("expected {'category': str, 'bbox': [x1, y1, x2, y2]}", path=p, line=lineno,
                                field=f"instances[{i}]")
            boxes.append((inst["category"], inst["bbox"]))
        out[image] = format_context(caps, boxes)
    if not out:
        raise DataError("no records", path=p)
    return out


def build_prompt(question: str, answer1: str, answer2: str, rule: JudgeRule, context: str | None = None) -> str:
    """The judge's user message (see the module docstring)."""
    role = rule.role
    head = f"[Context]\n{context}\n\n" if context else ""
    return (f"{head}[Question]\n{question}\n\n"
            f"[{role} 1]\n{answer1}\n\n[End of {role} 1]\n\n"
            f"[{role} 2]\n{answer2}\n\n[End of {role} 2]\n\n"
            f"[System]\n{rule.prompt}\n\n")


def build_messages(prompt: str, image_url: str | None = None) -> list[dict[str, Any]]:
    """System message plus the user message (with the image first for a multimodal judge)."""
    content: Any = prompt if image_url is None else [
        {"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": prompt}]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
