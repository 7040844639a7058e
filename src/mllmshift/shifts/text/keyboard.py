"""Keyboard typos with the semantics of nlpaug's ``KeyboardAug`` (as used by the paper).

For a text with ``T`` nlpaug tokens (``re.split(r'(\\W)')``, blanks dropped: words
and single punctuation marks), ``n = clamp(⌈word_p·T⌉, word_min, word_max)``
words are drawn without replacement among the eligible words (at least
``min_chars`` long, not protected, with a key on the map). In each, ``k =
clamp(⌈char_p·len⌉, char_min, char_max)`` letters (among those on the map) are
replaced by a uniformly drawn neighbour on a QWERTY keyboard, shifted keys and
upper case included. The paper's ``KeyboardAug_<level>`` is ``word_p = 0.05·level``
with nlpaug's defaults ``char_p = 0.3``, ``min_chars = 4``.

Differences from nlpaug: stop words, numbers and placeholders are never
touched (nlpaug may type over "What"), the original spacing and punctuation
are kept exactly, and the stray space in nlpaug's neighbour ``" t"`` of ``u``
is dropped.

The expected character error rate of one text (:meth:`KeyboardTypo.expected_cer`)
is ``min(n, |E|)/|E| · Σ_{w∈E} k_w / len(text)`` over the eligible words ``E``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from mllmshift.shifts.base import Change, PerturbationResult, TextPerturbation, apply_changes
from mllmshift.shifts.params import ShiftParamError, ShiftParams, bounded
from mllmshift.shifts.text.tokens import Token, tokenize

#: nlpaug 1.1.11 ``res/char/keyboard/en.json`` (MIT licence, Edward Ma): key → one-key-distance neighbours
NLPAUG_EN_KEYBOARD: dict[str, list[str]] = {
    "1": ["!", "2", "@", "q", "w"], "2": ["@", "1", "!", "3", "#", "q", "w", "e"],
    "3": ["#", "2", "@", "4", "$", "w", "e"], "4": ["$", "3", "#", "5", "%", "e", "r"],
    "5": ["%", "4", "$", "6", "^", "r", "t", "y"], "6": ["^", "5", "%", "7", "&", "t", "y", "u"],
    "7": ["&", "6", "^", "8", "*", "y", "u", "i"], "8": ["*", "7", "&", "9", "(", "u", "i", "o"],
    "9": ["(", "8", "*", "0", ")", "i", "o", "p"], "!": ["@", "q"], "@": ["!", "#", "q", "w"],
    "#": ["@", "$", "w", "e"], "$": ["#", "%", "e", "r"], "%": ["$"],
    "q": ["1", "!", "2", "@", "w", "a", "s"], "w": ["1", "!", "2", "@", "3", "#", "q", "e", "a", "s", "d"],
    "e": ["2", "@", "3", "#", "4", "$", "w", "r", "s", "d", "f"],
    "r": ["3", "#", "4", "$", "5", "%", "e", "t", "d", "f", "g"],
    "t": ["4", "$", "5", "%", "6", "^", "r", "y", "f", "g", "h"],
    "y": ["5", "%", "6", "^", "7", "&", "t", "u", "g", "h", "j"],
    "u": ["6", "^", "7", "&", "8", "*", " t", "i", "h", "j", "k"],
    "i": ["7", "&", "8", "*", "9", "(", "u", "o", "j", "k", "l"],
    "o": ["8", "*", "9", "(", "0", ")", "i", "p", "k", "l"], "p": ["9", "(", "0", ")", "o", "l"],
    "a": ["q", "w", "a", "s", "z", "x"], "s": ["q", "w", "e", "a", "d", "z", "x", "c"],
    "d": ["w", "e", "r", "s", "f", "x", "c", "v"], "f": ["e", "r", "t", "d", "g", "c", "v", "b"],
    "g": ["r", "t", "y", "f", "h", "v", "b", "n"], "h": ["t", "y", "u", "g", "j", "b", "n", "m"],
    "j": ["y", "u", "i", "h", "k", "n", "m", ",", "<"], "k": ["u", "i", "o", "j", "l", "m", ",", "<", ".", ">"],
    "l": ["i", "o", "p", "k", ";", ":", ",", "<", ".", ">", "/", "?"], "z": ["a", "s", "x"],
    "x": ["a", "s", "d", "z", "c"], "c": ["s", "d", "f", "x", "v"], "v": ["d", "f", "g", "c", "b"],
    "b": ["f", "g", "h", "v", "n"], "n": ["g", "h", "j", "b", "m"], "m": ["h", "j", "k", "n", ",", "<"],
}


def keyboard_model(special_char: bool = True, numeric: bool = True, upper_case: bool = True,
                   mapping: dict[str, list[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """nlpaug's ``Keyboard.get_model``: key (and its upper case) → sorted unique neighbours, itself excluded."""
    result: dict[str, list[str]] = {}
    for key, values in (mapping or NLPAUG_EN_KEYBOARD).items():
        if not numeric and re.match("^[0-9]*$", key):
            continue
        if not special_char and not re.match("^[a-z0-9]*$", key):
            continue
        result.setdefault(key, [])
        result.setdefault(key.upper(), [])
        for raw in values:
            value = raw.strip()
            if not numeric and re.match("^[0-9]*$", value):
                continue
            if not special_char and not re.match("^[a-z0-9]*$", value):
                continue
            result[key].append(value)
            if upper_case:
                result[key].append(value.upper())
                result[key.upper()].append(value)
                result[key.upper()].append(value.upper())
    return {k: tuple(sorted({v for v in vs if v != k})) for k, vs in result.items() if vs and any(v != k for v in vs)}


def nlpaug_token_count(text: str) -> int:
    """Number of nlpaug tokens: ``re.split(r'(\\W)')`` pieces that are not blank."""
    return sum(1 for t in re.split(r"(\W)", text) if t.strip())


def _clamp_count(p: float, size: int, lo: int, hi: int) -> int:
    cnt = int(math.ceil(p * size))
    if lo and cnt < lo:
        return lo
    if hi and cnt > hi:
        return hi
    return cnt


@dataclass(frozen=True)
class KeyboardParams(ShiftParams):
    word_p: float = bounded(0, 1)
    char_p: float = bounded(0, 1, default=0.3)
    word_min: int = bounded(0, default=1)
    word_max: int = bounded(0, default=10)
    char_min: int = bounded(0, default=1)
    char_max: int = bounded(0, default=10)
    min_chars: int = bounded(1, default=4)
    special_char: bool = True
    numeric: bool = True
    upper_case: bool = True

    def check(self) -> None:
        for lo, hi in (("word_min", "word_max"), ("char_min", "char_max")):
            if getattr(self, lo) > getattr(self, hi):
                raise ShiftParamError(f"parameter '{lo}' ({getattr(self, lo)}) must not exceed '{hi}' "
                                      f"({getattr(self, hi)})", param=lo)


class KeyboardTypo(TextPerturbation):
    """nlpaug ``KeyboardAug(aug_word_p=0.05·level)`` typos on unprotected words."""

    name = "keyboard"
    Params = KeyboardParams

    @classmethod
    def params_for(cls, level: int | None) -> KeyboardParams:
        return KeyboardParams(word_p=round(0.05 * (level or 0), 10))

    def __init__(self, level: int = 1, **overrides: Any) -> None:
        super().__init__(level, **overrides)
        p = self.params
        self._model = keyboard_model(p.special_char, p.numeric, p.upper_case)

    @property
    def model(self) -> dict[str, tuple[str, ...]]:
        """Key → neighbours (nlpaug's table with this instance's options)."""
        return self._model

    def eligible(self, text: str) -> list[Token]:
        model = self.model
        return [t for t in tokenize(text) if not t.protected and len(t.text) >= self.params.min_chars
                and any(ch in model for ch in t.text)]

    def word_count(self, text: str) -> int:
        """How many words are typed over (before capping by the eligible words)."""
        if self.params.word_p <= 0:
            return 0
        p = self.params
        return _clamp_count(p.word_p, nlpaug_token_count(text), p.word_min, p.word_max)

    def char_count(self, word: str) -> int:
        model = self.model
        n_keys = sum(ch in model for ch in word)
        p = self.params
        return min(n_keys, _clamp_count(p.char_p, len(word), p.char_min, p.char_max))

    def expected_cer(self, text: str) -> float:
        """Expected fraction of characters of ``text`` substituted (see the module docstring)."""
        words = self.eligible(text)
        if not words or not text:
            return 0.0
        n = min(self.word_count(text), len(words))
        return n / len(words) * sum(self.char_count(w.text) for w in words) / len(text)

    def _perturb(self, text: str, rng: np.random.Generator) -> PerturbationResult:
        words = self.eligible(text)
        n = min(self.word_count(text), len(words))
        if n == 0:
            return PerturbationResult(text, ())
        model = self.model
        chosen = sorted(rng.choice(len(words), size=n, replace=False).tolist())
        changes: list[Change] = []
        for wi in chosen:
            tok = words[wi]
            chars = list(tok.text)
            keys = [i for i, ch in enumerate(chars) if ch in model]
            k = self.char_count(tok.text)
            for ci in sorted(rng.choice(len(keys), size=k, replace=False).tolist()):
                pos = keys[ci]
                options = model[chars[pos]]
                chars[pos] = options[int(rng.integers(len(options)))]
            changes.append(Change(tok.start, tok.end, tok.text, "".join(chars), "keyboard"))
        return PerturbationResult(apply_changes(text, changes), tuple(changes))
