"""Character and word noise: adjacent swap, insertion, deletion, word dropout, case flips.

Each unprotected word (not a stop word, number or placeholder) is hit
independently with probability ``p = 0.05·level`` (case noise: each letter of
an unprotected word), so the expected number of edits is ``p`` times the
number of eligible words (letters). One edit per hit word:

- ``char_swap``: two adjacent, different inner letters swap (first and last stay; words of 4+ letters);
- ``char_insert``: a random lower-case ASCII letter is inserted at a random position;
- ``char_delete``: one letter is deleted (words of 2+ letters);
- ``word_dropout``: the word and the whitespace after it (or before it, at the end) are removed;
- ``case_noise``: the letter's case is flipped.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from mllmshift.shifts.base import Change, PerturbationResult, TextPerturbation, apply_changes
from mllmshift.shifts.params import ShiftParams, bounded
from mllmshift.shifts.text.tokens import Token, tokenize


@dataclass(frozen=True)
class NoiseParams(ShiftParams):
    p: float = bounded(0, 1)
    min_chars: int = bounded(1, default=1)


def _words(text: str, min_chars: int) -> list[Token]:
    return [t for t in tokenize(text) if not t.protected and len(t.text) >= min_chars]


class _WordNoise(TextPerturbation):
    Params = NoiseParams
    MIN_CHARS = 1

    @classmethod
    def params_for(cls, level: int | None) -> NoiseParams:
        return NoiseParams(p=round(0.05 * (level or 0), 10), min_chars=cls.MIN_CHARS)

    def _edit(self, word: str, rng: np.random.Generator) -> str | None:
        raise NotImplementedError

    def _perturb(self, text: str, rng: np.random.Generator) -> PerturbationResult:
        words = _words(text, self.params.min_chars)
        hits = rng.random(len(words)) < self.params.p
        changes = []
        for tok, hit in zip(words, hits):
            if hit:
                new = self._edit(tok.text, rng)
                if new is not None and new != tok.text:
                    changes.append(Change(tok.start, tok.end, tok.text, new, self.name))
        return PerturbationResult(apply_changes(text, changes), tuple(changes))


class CharSwap(_WordNoise):
    """Swap two adjacent, different inner letters of a word."""

    name = "char_swap"
    MIN_CHARS = 4

    def _edit(self, word: str, rng: np.random.Generator) -> str | None:
        pos = [i for i in range(1, len(word) - 2) if word[i] != word[i + 1]]
        if not pos:
            return None
        i = pos[int(rng.integers(len(pos)))]
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]


class CharInsert(_WordNoise):
    """Insert a random lower-case ASCII letter at a random position of a word."""

    name = "char_insert"

    def _edit(self, word: str, rng: np.random.Generator) -> str | None:
        i = int(rng.integers(len(word) + 1))
        return word[:i] + string.ascii_lowercase[int(rng.integers(26))] + word[i:]


class CharDelete(_WordNoise):
    """Delete one letter of a word."""

    name = "char_delete"
    MIN_CHARS = 2

    def _edit(self, word: str, rng: np.random.Generator) -> str | None:
        i = int(rng.integers(len(word)))
        return word[:i] + word[i + 1:]


class WordDropout(_WordNoise):
    """Drop whole words (with one adjoining run of whitespace)."""

    name = "word_dropout"

    def _perturb(self, text: str, rng: np.random.Generator) -> PerturbationResult:
        words = _words(text, self.params.min_chars)
        hits = rng.random(len(words)) < self.params.p
        changes: list[Change] = []
        for tok, hit in zip(words, hits):
            if not hit:
                continue
            start, end = tok.start, tok.end
            floor = changes[-1].end if changes else 0
            after = end
            while after < len(text) and text[after].isspace():
                after += 1
            if after > end:
                end = after
            else:
                while start > floor and text[start - 1].isspace():
                    start -= 1
            changes.append(Change(start, end, text[start:end], "", self.name))
        return PerturbationResult(apply_changes(text, changes), tuple(changes))


class CaseNoise(_WordNoise):
    """Flip the case of each letter of unprotected words with probability ``p``."""

    name = "case_noise"

    def _perturb(self, text: str, rng: np.random.Generator) -> PerturbationResult:
        changes = []
        for tok in _words(text, self.params.min_chars):
            flips = rng.random(len(tok.text)) < self.params.p
            if flips.any():
                new = "".join(ch.swapcase() if f and ch.swapcase() != ch and len(ch.swapcase()) == 1 else ch
                              for ch, f in zip(tok.text, flips))
                if new != tok.text:
                    changes.append(Change(tok.start, tok.end, tok.text, new, self.name))
        return PerturbationResult(apply_changes(text, changes), tuple(changes))
