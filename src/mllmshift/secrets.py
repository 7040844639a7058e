"""Keeping API keys out of everything printed, logged or written.

Every HTTP path (responders, the judge, the translator) builds its error messages through
:func:`redact` with the key it holds. A server may echo the key back in an error body, in plain form,
JSON-escaped or URL-encoded, so each of those forms is replaced by ``***``. Bodies are redacted
*before* they are shortened (:func:`redacted_excerpt`), so a cut can never leave half a key behind.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable

#: what a secret is replaced with
MASK = "***"


def _forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in a response body or a URL."""
    return {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)} - {""}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of every non-empty secret replaced by :data:`MASK` (longest first)."""
    forms = sorted({f for s in secrets if s for f in _forms(s)}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, MASK)
    return text


def redacted_excerpt(body: bytes | str, secrets: Iterable[str | None], limit: int = 300) -> str:
    """The first ``limit`` characters of a response body, decoded and redacted before it is cut."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = redact(text, secrets)
    return text if len(text) <= limit else text[:limit] + "…"
