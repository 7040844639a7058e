"""EDA synonym replacement (Wei & Zou 2019), as used by the paper (``sr_<k>``: ``alpha = 0.05·k``).

With ``N`` the number of (letter) words of the text, ``n = max(1, ⌊alpha·N⌋)``
distinct word types are replaced: the unprotected types are shuffled and
taken in turn, skipping those without a WordNet synonym, until ``n`` are
replaced; every occurrence of a chosen type gets the same synonym, drawn
uniformly from the sorted synonyms (lemma names of all synsets of the word,
WordNet 3.0, the word itself excluded). Stop words, numbers and placeholders
are never replaced.

Two output styles:

- ``preserve`` (default): only one-word synonyms, matched to the original's
  capitalisation; spacing and punctuation are kept, so the word count is too.
- ``eda``: as the EDA code (and the paper's files) do: multi-word synonyms
  allowed (``color`` → ``colour in``), synonyms reduced to letters and spaces
  (empty ones dropped), and the output lower-cased with punctuation and
  apostrophes removed. Numbers and placeholders are kept verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from mllmshift.shifts.base import Change, PerturbationResult, TextPerturbation, apply_changes
from mllmshift.shifts.params import ShiftParams, bounded
from mllmshift.shifts.text.tokens import Token, match_case, tokenize
from mllmshift.shifts.text.wordnet import load_wordnet

STYLES = ("preserve", "eda")


@dataclass(frozen=True)
class SynonymParams(ShiftParams):
    alpha: float = bounded(0, 1)
    style: str = bounded(choices=STYLES, default="preserve")
    min_replacements: int = bounded(0, default=1)
    #: WordNet database folder (None: $MLLMSHIFT_WORDNET_DIR if it holds one, else the packaged WordNet 3.0 table)
    wordnet_dir: str | None = None


def _eda_clean(s: str) -> str:
    s = s.replace("_", " ").replace("-", " ").lower()
    s = "".join(ch for ch in s if ch in " qwertyuiopasdfghjklzxcvbnm")
    return re.sub(" +", " ", s).strip()


class SynonymReplacement(TextPerturbation):
    """Replace ``max(1, ⌊alpha·N⌋)`` word types by WordNet synonyms (EDA's SR operation)."""

    name = "synonym"
    Params = SynonymParams

    def __init__(self, level: int = 1, **overrides: Any) -> None:
        super().__init__(level, **overrides)
        self._wordnet = load_wordnet(self.params.wordnet_dir)

    @classmethod
    def params_for(cls, level: int | None) -> SynonymParams:
        return SynonymParams(alpha=round(0.05 * (level or 0), 10))

    def synonyms(self, word: str) -> list[str]:
        """The candidate replacements of ``word`` in this style, sorted."""
        wn = self._wordnet
        low = word.lower()
        if self.params.style == "eda":
            cands = {_eda_clean(n) for n in wn.lemma_names(low)}
            cands.discard(low)
            cands.discard("")
            return sorted(cands)
        own = wn.base_forms(low)
        return sorted({n.lower() for n in wn.lemma_names(low)
                       if n.isalpha() and n.lower() not in own and n.lower() != low})

    def n_replacements(self, text: str) -> int:
        n_words = sum(1 for t in tokenize(text) if t.kind == "word")
        if self.params.alpha <= 0 or n_words == 0:
            return 0
        return max(self.params.min_replacements, int(self.params.alpha * n_words))

    def _perturb(self, text: str, rng: np.random.Generator) -> PerturbationResult:
        tokens = tokenize(text)
        n = self.n_replacements(text)
        types = list(dict.fromkeys(t.text.lower() for t in tokens if not t.protected))
        chosen: dict[str, str] = {}
        for i in rng.permutation(len(types)).tolist() if types else []:
            if len(chosen) >= n:
                break
            syns = self.synonyms(types[i])
            if syns:
                chosen[types[i]] = syns[int(rng.integers(len(syns)))]
        changes = tuple(
            Change(t.start, t.end, t.text,
                   chosen[t.text.lower()] if self.params.style == "eda" else match_case(t.text, chosen[t.text.lower()]),
                   "synonym")
            for t in tokens if not t.protected and t.text.lower() in chosen)
        if self.params.style == "preserve":
            return PerturbationResult(apply_changes(text, changes), changes)
        return PerturbationResult(self._eda_text(tokens, {c.start: c.replacement for c in changes}), changes)

    @staticmethod
    def _eda_text(tokens: list[Token], replaced: dict[int, str]) -> str:
        parts: list[str] = []
        for t in tokens:
            if t.start in replaced:
                parts.append(replaced[t.start])
            elif t.kind == "word":
                parts.append(t.text.lower().replace("'", "").replace("’", ""))
            else:
                parts.append(t.text)
        return " ".join(p for p in parts if p)
