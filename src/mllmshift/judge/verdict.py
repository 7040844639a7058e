"""Parsing the judge's verdict: the first line must carry exactly two scores in [1, 10].

The LLaVA-Bench contract is "a single line containing only two values ...
separated by a space". This parser reads the first non-blank line, forgives
decoration that does not change its meaning (``**8 7**``, ``(8, 7)``, ``8,7``,
a leading ``Scores:``) and rejects everything else: prose, one or three
numbers, ``8/10``, ``nan``, exponents, negative or out-of-range scores. A
rejected verdict is never turned into a sentinel score: the caller retries and
finally excludes the item.
"""

from __future__ import annotations

import re

from mllmshift.errors import MllmshiftError

SCORE_MIN = 1.0
SCORE_MAX = 10.0
_NUMBER = re.compile(r"^\d{1,2}(?:\.\d+)?$")
_LABEL = re.compile(r"^\s*(?:scores?|ratings?)\s*:\s*", re.IGNORECASE)
_DECOR = str.maketrans({c: " " for c in "*`()[]"})


class VerdictError(MllmshiftError, ValueError):
    """A verdict whose first line is not two scores in [1, 10]."""


def parse_verdict(text: str) -> tuple[float, float]:
    """``(score of Assistant 1, score of Assistant 2)`` from a verdict, or :class:`VerdictError` saying why."""
    if not isinstance(text, str):
        raise VerdictError(f"verdict is a {type(text).__name__}, not text")
    line = next((ln for ln in text.splitlines() if ln.strip()), None)
    if line is None:
        raise VerdictError("verdict is empty")
    body = _LABEL.sub("", line.translate(_DECOR))
    tokens = [t for t in re.split(r"[\s,;]+", body) if t]
    if len(tokens) != 2:
        raise VerdictError(f"first line must hold exactly two scores, found {len(tokens)} tokens: {line[:80]!r}")
    scores = []
    for tok in tokens:
        if not _NUMBER.match(tok):
            raise VerdictError(f"'{tok}' is not a score (first line {line[:80]!r})")
        value = float(tok)
        if not SCORE_MIN <= value <= SCORE_MAX:
            raise VerdictError(f"score {tok} is outside [{SCORE_MIN:g}, {SCORE_MAX:g}]")
        scores.append(value)
    return scores[0], scores[1]
