"""Keeping API keys out of everything printed, logged or written.

Every HTTP path (responders, the judge, the translator) builds its error messages through
:func:`redact` with the key it holds. A server may echo the key back in an error body, in plain form,
JSON-escaped or URL-encoded, so each of those forms is replaced by ``***``. Bodies are redacted
*before* they are shortened (:func:`redacted_excerpt`), so a cut can never leave half a key behind.

URLs carry secrets too: ``http://user:PASS@host/hook`` or ``http://host/v1?api_key=...``. Every URL the tool
prints, logs or writes is shown through :func:`redact_url` (user-info and every query value replaced by
``***``, the fragment dropped), and every message that may quote a URL (an error from a failed POST) is
redacted with :func:`url_secrets` of it. The request itself goes to :func:`request_url` (the URL without its
user-info, which urllib cannot send) with the user-info as a Basic ``Authorization`` header
(:func:`basic_auth`).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterable

#: what a secret is replaced with
MASK = "***"
#: the shortest part of a URL that :func:`url_secrets` treats as a secret in free text
MIN_SECRET = 4


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


def _split(url: str) -> urllib.parse.SplitResult | None:
    try:
        return urllib.parse.urlsplit(url)
    except ValueError:
        return None


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of ``url``: the user name and password of its user-info, and every query value (tokens
    and keys travel there: ``?token=``, ``?api_key=``, ``?sig=``), plus the raw user-info and query strings."""
    parts = _split(url or "")
    if parts is None:
        return [url] if url else []
    out: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        out += [userinfo, urllib.parse.unquote(user), urllib.parse.unquote(password)]
    if parts.query:
        out.append(parts.query)
        out += [v for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
        out += [chunk.partition("=")[2] for chunk in parts.query.split("&")]
    if parts.fragment:
        out.append(parts.fragment)
    # very short values ("1", "en") are no secrets and replacing them everywhere would garble the message;
    # the URL itself is always shown through redact_url, which masks every value
    return [s for s in out if len(s) >= MIN_SECRET]


def redact_url(url: str) -> str:
    """``url`` for display: user-info and every query value replaced by :data:`MASK`, the fragment dropped
    (``http://u:p@h/x?token=t&a=1`` → ``http://***@h/x?token=***&a=***``)."""
    parts = _split(url)
    if parts is None:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(f"{chunk.partition('=')[0]}={MASK}" if "=" in chunk else MASK
                     for chunk in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def request_url(url: str) -> str:
    """``url`` without its user-info and fragment (what goes on the wire; see :func:`basic_auth`)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))


def basic_auth(url: str) -> dict[str, str]:
    """The ``Authorization: Basic`` header of ``url``'s user-info (empty when it has none)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return {}
    user, _, password = parts.netloc.rpartition("@")[0].partition(":")
    token = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(token).decode("ascii")}
