"""Judge rules: per-category instructions in the format of LLaVA's ``rule.json``.

A rules file is a JSON object ``{name: {"role": "Assistant", "prompt": "..."}}``.
The rule for a question of category ``c`` is looked up as ``<prefix><c>``
(``prefix`` defaults to ``llava_bench_``, the LLaVA-Bench keys), then ``c``, then
``default``. Pass LLaVA's own file with ``--rules``; without one the short
built-in :data:`DEFAULT_RULES` below (written for this package) are used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mllmshift.errors import DataError

_SCORE_LINE = (
    "Output the two scores, for Assistant 1 and Assistant 2 in that order, as two numbers from 1 to 10 "
    "separated by a space on the first line and nothing else on it. From the second line on, explain your "
    "scores; judge only the content, regardless of the order in which the answers appear and of their length."
)
_VISUAL = (
    "The question was asked about an image. The context above describes that image in words (and, where "
    "given, lists its objects with bounding boxes (x1, y1, x2, y2) in relative coordinates from 0 to 1), or "
    "shows the image itself. "
)


@dataclass(frozen=True)
class JudgeRule:
    """One category's instruction: ``role`` names the answers (``Assistant 1``/``2``), ``prompt`` closes the request."""

    role: str
    prompt: str


#: built-in rules (own wording, same shape and score-line contract as LLaVA-Bench's rules)
DEFAULT_RULES: dict[str, JudgeRule] = {
    "llava_bench_conv": JudgeRule("Assistant", "Please assess two AI assistants answering a short question "
                                  "about an image. " + _VISUAL + "Rate each answer for correctness with respect "
                                  "to the image, relevance and helpfulness on a scale of 1 to 10 (10 is best). "
                                  + _SCORE_LINE),
    "llava_bench_detail": JudgeRule("Assistant", "Please assess two AI assistants asked to describe an image in "
                                    "detail. " + _VISUAL + "Rate each description for accuracy (no invented "
                                    "objects), coverage of the important content and level of detail on a scale "
                                    "of 1 to 10 (10 is best). " + _SCORE_LINE),
    "llava_bench_complex": JudgeRule("Assistant", "Please assess two AI assistants answering a question about an "
                                     "image that needs reasoning. " + _VISUAL + "Rate each answer for the "
                                     "soundness of its reasoning, its accuracy with respect to the image and its "
                                     "helpfulness on a scale of 1 to 10 (10 is best). " + _SCORE_LINE),
    "default": JudgeRule("Assistant", "Please assess two AI assistants answering the user question above. Rate "
                         "each answer for helpfulness, relevance, accuracy and level of detail on a scale of 1 to "
                         "10 (10 is best). " + _SCORE_LINE),
}


def load_rules(path: str | os.PathLike[str]) -> dict[str, JudgeRule]:
    """Read a rules file; each entry must have string ``role`` and ``prompt`` (else a located :class:`DataError`)."""
    p = Path(path)
    if not p.is_file():
        raise DataError("rules file not found", path=p)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"bad JSON: {err.msg}", path=p, line=err.lineno) from None
    if not isinstance(obj, dict) or not obj:
        raise DataError("expected a non-empty JSON object of rules", path=p)
    rules: dict[str, JudgeRule] = {}
    for name, entry in obj.items():
        if not isinstance(entry, dict):
            raise DataError(f"rule '{name}' is not an object", path=p, field=name)
        for key in ("role", "prompt"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise DataError(f"rule '{name}' needs a non-empty string", path=p, field=f"{name}.{key}")
        rules[name] = JudgeRule(entry["role"], entry["prompt"])
    return rules


def rule_for(category: str | None, rules: Mapping[str, JudgeRule], prefix: str = "llava_bench_") -> tuple[str, JudgeRule]:
    """``(key, rule)`` for a category: ``<prefix><category>``, then ``<category>``, then ``default``."""
    candidates = [f"{prefix}{category}", str(category)] if category else []
    for key in (*candidates, "default"):
        if key in rules:
            return key, rules[key]
    raise DataError(f"no judge rule for category '{category}' (tried {candidates + ['default']}; "
                    f"rules have {sorted(rules)})", field="category")
