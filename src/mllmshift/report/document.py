"""A tiny document model rendered both as Markdown and as self-contained HTML.

A report is a list of blocks (:class:`Heading`, :class:`Paragraph`, :class:`Bullets`,
:class:`Table`, :class:`Figure`); :func:`to_markdown` and :func:`to_html` render the
same content, so the two reports never disagree. Inline text may use ``**bold**`` and
```code``` (the only markup understood).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    css: str = ""


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    align: tuple[str, ...] = ()  # "l" / "r" per column


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str
    alt: str = ""


Block = Union[Heading, Paragraph, Bullets, Table, Figure]


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


# ------------------------------------------------------------------------------------------ markdown
def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document, base: Path) -> str:
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {i}" for i in b.items] + [""]
        elif isinstance(b, Table):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            al = b.align or tuple("l" for _ in b.header)
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---:" if a == "r" else ":---" for a in al) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Figure):
            rel = b.path.relative_to(base) if b.path.is_relative_to(base) else b.path
            out += [f"![{b.alt or b.caption}]({rel.as_posix()})", "", f"*{b.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


# ------------------------------------------------------------------------------------------ html
_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;max-width:1060px;margin:2em auto;
padding:0 1.2em;color:#1d2330;line-height:1.5;background:#fff}
h1{font-size:1.7em;border-bottom:3px solid #2b5797;padding-bottom:.3em}
h2{font-size:1.3em;margin-top:1.8em;color:#2b5797;border-bottom:1px solid #dde3ee;padding-bottom:.2em}
h3{font-size:1.1em;margin-top:1.3em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #d0d7e2;padding:.28em .6em}th{background:#eef2f8;text-align:left}
td.r{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even) td{background:#fafbfd}
caption{caption-side:top;text-align:left;font-style:italic;color:#555;padding-bottom:.3em}
figure{margin:1em 0 1.6em}figure img{max-width:100%;border:1px solid #e3e7ee}
figcaption{font-size:.88em;color:#555}
code{background:#f3f5f9;padding:.05em .3em;border-radius:3px;font-size:.92em}
.headline{background:#f3f7fd;border-left:4px solid #2b5797;padding:.7em 1em;margin:1em 0}
.warning{background:#fff6e5;border-left:4px solid #e69500;padding:.6em 1em;margin:1em 0}
"""


def _inline(text: str) -> str:
    s = html.escape(text)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    s = re.sub(r"`(.+?)`", r"<code>\1</code>", s)
    return s


def to_html(doc: Document, embed_images: bool = True) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            cls = f' class="{b.css}"' if b.css else ""
            parts.append(f"<p{cls}>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            al = b.align or tuple("l" for _ in b.header)
            cap = f"<caption>{_inline(b.caption)}</caption>" if b.caption else ""
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f'<td class="{a}">{_inline(c)}</td>' for a, c in zip(al, row)) + "</tr>"
                           for row in b.rows)
            parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Figure):
            if embed_images:
                data = base64.b64encode(b.path.read_bytes()).decode()
                src = f"data:image/png;base64,{data}"
            else:
                src = b.path.name
            parts.append(f'<figure><img src="{src}" alt="{html.escape(b.alt or b.caption)}">'
                         f"<figcaption>{_inline(b.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def fmt(v: object, digits: int = 3, signed: bool = False) -> str:
    """A number for a table cell: fixed digits, '—' for missing."""
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"
    return str(v)


def fmt_p(p: object) -> str:
    if not isinstance(p, float):
        return "—"
    if p == 0.0:
        return "0"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def ci(low: object, high: object, digits: int = 3) -> str:
    if not isinstance(low, float) or not isinstance(high, float):
        return "—"
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def rows_of(values: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(r) for r in values)
