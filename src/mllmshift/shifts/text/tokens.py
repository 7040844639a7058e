"""Word tokens and what is never damaged: stop words, numbers and placeholders.

A token is a maximal run of letters/digits (apostrophes inside a word kept,
``don't``) or a placeholder in angle brackets (``<image>``, ``<im_start>``).
Everything between tokens (spaces, punctuation) is left untouched by every
perturbation. A token is *protected* when it is a placeholder, contains a
digit, or is a stop word (NLTK's English list, case-insensitive).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: NLTK's English stop-word list (179 words), embedded so that no corpus download is needed
STOP_WORDS: frozenset[str] = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his
himself she she's her hers herself it it's its itself they them their theirs themselves what which who whom this
that that'll these those am is are was were be been being have has had having do does did doing a an the and but
if or because as until while of at by for with about against between into through during before after above below
to from up down in out on off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will just don don't should
should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't
haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't
weren weren't won won't wouldn wouldn't
""".split())

PLACEHOLDER_RE = re.compile(r"<[^<>\s]{1,64}>")
TOKEN_RE = re.compile(r"(?P<placeholder><[^<>\s]{1,64}>)|(?P<word>[^\W_]+(?:['’][^\W_]+)*)")


@dataclass(frozen=True)
class Token:
    """``text == source[start:end]``; ``kind`` is ``word``, ``number`` (has a digit) or ``placeholder``."""

    text: str
    start: int
    end: int
    kind: str

    @property
    def protected(self) -> bool:
        """Never damaged: placeholders, numbers and stop words."""
        return self.kind != "word" or self.text.lower().replace("’", "'") in STOP_WORDS


def tokenize(text: str) -> list[Token]:
    """The word, number and placeholder tokens of ``text``, in order."""
    out: list[Token] = []
    for m in TOKEN_RE.finditer(text):
        if m.group("placeholder"):
            kind = "placeholder"
        elif any(ch.isdigit() for ch in m.group(0)):
            kind = "number"
        else:
            kind = "word"
        out.append(Token(m.group(0), m.start(), m.end(), kind))
    return out


def match_case(template: str, word: str) -> str:
    """``word`` in the capitalisation pattern of ``template`` (UPPER, Title or as is)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
