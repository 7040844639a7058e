r"""Text normalisation before embedding: what a text encoder sees of a text.

A chat model that formats its answers in Markdown (headings, bullets, bold, code fences, tables) gives
an encoder many tokens that carry layout, not content; an answer's embedding then moves away from its
question by its formatting. The ``normalize`` option of every text encoder
(``build_encoder("use-multilingual", normalize="markdown")``) rewrites each text before it is
embedded *and* before its cache key is hashed, and is part of the encoder's config and fingerprint,
so results record it and the cache never mixes normalised and raw rows.

Modes (:data:`MODES`):

- ``"whitespace"``: every run of whitespace (spaces, tabs, newlines, any Unicode space) becomes one
  space; leading and trailing whitespace go.
- ``"markdown"``: Markdown markers are removed, keeping their text, then whitespace is collapsed.
  Line by line: code-fence lines (```` ``` ```` or ``~~~``, with any language tag) are dropped and the
  code inside is kept verbatim; thematic breaks (``---``, ``***``, ``___``) and setext underlines
  (``===``) are dropped; from the start of a line, block quotes (``>``), ATX heading marks (``#`` …
  ``######``, and closing ``#``), bullets (``-``, ``*``, ``+``, with an optional task box ``[ ]`` /
  ``[x]``) and ordered-list numbers (``1.``, ``1)``) are removed; table alignment rows are dropped and a
  table row's cells are joined with ``"; "``. Inline, outside code: images and links keep their text
  (``[text](url)`` → ``text``), autolinks keep the address, code spans keep their code,
  ``***x***``, ``**x**``, ``__x__``, ``*x*``, ``_x_`` (at word boundaries, so ``snake_case`` stays) and
  ``~~x~~`` keep ``x``, ``<br>`` becomes a space, and backslash escapes keep the escaped character.

``"whitespace"`` is idempotent, and so is ``"markdown"`` on texts without code or backslash escapes;
code and escaped characters keep their marker characters, so a second pass may strip those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mllmshift.encoders.base import Encoder, check_texts

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})[^`]*$")
_BREAK = re.compile(r"^\s{0,3}(?:([-*_])\s*(?:\1\s*){2,}|=+\s*)$")
_QUOTE = re.compile(r"^\s{0,3}(?:>\s?)+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+|$)")
_HEADING_CLOSE = re.compile(r"\s+#+\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(?:\[[ xX]\]\s+)?")
_ORDERED = re.compile(r"^\s*\d{1,9}[.)]\s+")
_TABLE_ALIGN = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TABLE_SPLIT = re.compile(r"(?<!\\)\|")
_INLINE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),                  # image → alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),                   # [text](url) → text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),                  # [text][ref] → text
    (re.compile(r"<((?:https?|ftp)://[^>\s]+|[^>\s@]+@[^>\s]+)>"), r"\1"),   # <autolink>
    (re.compile(r"<br\s*/?>", re.IGNORECASE), " "),
    (re.compile(r"(\*\*\*|___)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s*\\])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w\\])_(?=[^\s_])(.+?)(?<=[^\s_\\])_(?!\w)"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace → one space, ends stripped."""
    return " ".join(text.split())


def _inline(line: str) -> tuple[str, int]:
    """Inline markers removed from one line of prose (code spans are kept out of the other rules), and their count."""
    parts = _CODE_SPAN.split(line)  # [prose, ticks, code, prose, ticks, code, ..., prose]
    out, n = [], 0
    for i, part in enumerate(parts):
        if i % 3 == 0:
            for pattern, repl in _INLINE:
                part, k = pattern.subn(repl, part)
                n += k
            part, k = _ESCAPE.subn(r"\1", part)
            out.append(part)
            n += k
        elif i % 3 == 2:
            out.append(part.strip())
            n += 1
    return "".join(out), n


def _block(line: str) -> tuple[str | None, int]:
    """One prose line without its block markers (None for a line that is only a marker), and their count."""
    if _BREAK.match(line) or (_TABLE_ALIGN.match(line) and "-" in line):
        return None, 1
    line, n = _QUOTE.subn("", line)
    if _HEADING.match(line):
        line = _HEADING_CLOSE.sub("", _HEADING.sub("", line))
        n += 1
    else:
        line, k = _BULLET.subn("", line)
        line, j = _ORDERED.subn("", line)
        n += k + j
    stripped = line.strip()
    if stripped.startswith("|") or (stripped.endswith("|") and "|" in stripped[:-1]):
        cells = [c.strip() for c in _TABLE_SPLIT.split(stripped.strip("|"))]
        line = "; ".join(c for c in cells if c)
        n += 1
    return line, n


def _strip(text: str) -> tuple[str, int]:
    out: list[str] = []
    fence: str | None = None
    n = 0
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip()[len(m.group(1)):]:
                fence = None
                n += 1
            else:
                out.append(line)
            continue
        if m:
            fence = m.group(1)
            n += 1
            continue
        kept, k = _block(line)
        n += k
        if kept is not None:
            prose, k = _inline(kept)
            out.append(prose)
            n += k
    return collapse_whitespace("\n".join(out)), n


def strip_markdown(text: str) -> str:
    """``text`` without Markdown markers, whitespace collapsed (the ``"markdown"`` mode; see the module docstring)."""
    return _strip(text)[0]


def count_markdown_markers(text: str) -> int:
    """How many Markdown markers :func:`strip_markdown` removes from ``text``: one per fence line, break line,
    table row or alignment row, quote, heading, bullet or list number, and per inline link, image, autolink,
    ``<br>``, emphasis pair, code span and escape."""
    return _strip(text)[1]


#: normalisation mode → function
MODES: dict[str, Callable[[str], str]] = {"whitespace": collapse_whitespace, "markdown": strip_markdown}


def normalise_text(text: str, mode: str | None) -> str:
    """``text`` normalised with ``mode`` (None: unchanged)."""
    if mode is None:
        return text
    return _mode(mode)(text)


def _mode(mode: str) -> Callable[[str], str]:
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"unknown text normalisation {mode!r}; choose from {', '.join(sorted(MODES))}") from None


class NormalisedText(Encoder):
    """A text encoder that embeds (and caches) ``normalise_text(text, mode)`` instead of ``text``.

    Same name, dimension and threads as ``inner``; its :meth:`config` is the inner one plus
    ``"normalize": mode``, so its fingerprint (and cache file) differ from the raw encoder's.
    """

    modality = "text"

    def __init__(self, inner: Encoder, mode: str) -> None:
        if inner.modality != "text":
            raise ValueError(f"text normalisation applies to text encoders; '{inner.name}' is an {inner.modality} encoder")
        self._fn = _mode(mode)
        self.inner = inner
        self.mode = mode
        self.name = inner.name
        self.dim = inner.dim

    @property  # type: ignore[override]
    def batch_size(self) -> int:
        return self.inner.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self.inner.batch_size = value

    @property  # type: ignore[override]
    def threads(self) -> int | None:
        return self.inner.threads

    @threads.setter
    def threads(self, value: int | None) -> None:
        self.inner.threads = value

    def prepare(self, item: Any) -> Any:
        return self._fn(check_texts([item], self.name)[0])

    def _encode_batch(self, items: Sequence[Any]) -> np.ndarray:
        return self.inner._encode_batch([self.prepare(t) for t in items])

    def config(self) -> dict[str, Any]:
        return {**self.inner.config(), "normalize": self.mode}
