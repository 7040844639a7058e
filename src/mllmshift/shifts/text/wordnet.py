"""A small reader of the WordNet 3.0 database files (Princeton's format), for synonyms.

Reads ``index.{noun,verb,adj,adv}``, ``data.*`` and ``*.exc`` from a folder:
Debian's ``wordnet-base`` package installs them in ``/usr/share/wordnet``
(``apt-get install wordnet-base``); an unzipped NLTK ``wordnet`` corpus has the
same files. ``synsets`` follows NLTK's ``WordNetCorpusReader.synsets``: the
word is lower-cased and lemmatised with WordNet's *morphy* (exception lists,
then suffix rules) for each part of speech.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from mllmshift.errors import MllmshiftError

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
#: morphy's suffix rules (NLTK's MORPHOLOGICAL_SUBSTITUTIONS)
SUBSTITUTIONS = {
    "n": [("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}
_MARKER = re.compile(r"\(.*\)$")

CANDIDATE_DIRS = ("/usr/share/wordnet", "~/nltk_data/corpora/wordnet", "/usr/share/nltk_data/corpora/wordnet",
                  "/usr/local/share/nltk_data/corpora/wordnet")


class WordNetNotFound(MllmshiftError):
    """No WordNet database folder was found."""


def find_wordnet(root: str | os.PathLike[str] | None = None) -> Path:
    """The WordNet folder: ``root``, ``$MLLMSHIFT_WORDNET_DIR``, or a standard place."""
    cands = [root] if root is not None else [os.environ.get("MLLMSHIFT_WORDNET_DIR"), *CANDIDATE_DIRS]
    for c in cands:
        if c and (Path(c).expanduser() / "index.noun").is_file():
            return Path(c).expanduser()
    raise WordNetNotFound(
        "WordNet database not found (looked in " + ", ".join(str(c) for c in cands if c)
        + "); install it with `apt-get install wordnet-base` or set MLLMSHIFT_WORDNET_DIR")


class WordNet:
    """Lemma → synsets → lemma names, from the database files in ``root``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = find_wordnet(root)
        self._index: dict[str, dict[str, tuple[int, ...]]] = {}
        self._exceptions: dict[str, dict[str, list[str]]] = {}
        self._data: dict[str, bytes] = {}
        for pos, fname in POS_FILES.items():
            index: dict[str, tuple[int, ...]] = {}
            with open(self.root / f"index.{fname}", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith(" "):
                        continue
                    parts = line.split()
                    n_synsets, n_ptr = int(parts[2]), int(parts[3])
                    offsets = parts[4 + n_ptr + 2:]
                    assert len(offsets) == n_synsets, (fname, parts[0])
                    index[parts[0]] = tuple(int(o) for o in offsets)
            self._index[pos] = index
            exc: dict[str, list[str]] = {}
            exc_path = self.root / f"{fname}.exc"
            if exc_path.is_file():
                with open(exc_path, encoding="utf-8") as fh:
                    for line in fh:
                        parts = line.split()
                        if parts:
                            exc[parts[0]] = parts[1:]
            self._exceptions[pos] = exc

    def morphy(self, form: str, pos: str) -> list[str]:
        """Base forms of ``form`` that WordNet lists under ``pos`` (NLTK's ``_morphy``)."""
        index, exc, subs = self._index[pos], self._exceptions[pos], SUBSTITUTIONS[pos]

        def rules(forms: list[str]) -> list[str]:
            return [f[: -len(old)] + new for f in forms for old, new in subs if f.endswith(old)]

        def known(forms: list[str]) -> list[str]:
            return list(dict.fromkeys(f for f in forms if f in index))

        if form in exc:
            return known([form, *exc[form]])
        forms = rules([form])
        found = known([form, *forms])
        while not found and forms:
            forms = rules(forms)
            found = known(forms)
        return found

    def _line(self, pos: str, offset: int) -> str:
        if pos not in self._data:
            self._data[pos] = (self.root / f"data.{POS_FILES[pos]}").read_bytes()
        data = self._data[pos]
        end = data.index(b"\n", offset)
        return data[offset:end].decode("utf-8")

    def synset_lemmas(self, pos: str, offset: int) -> list[str]:
        """The lemma names of one synset (underscores for spaces, as in the files)."""
        parts = self._line(pos, offset).split()
        n_words = int(parts[3], 16)
        return [_MARKER.sub("", parts[4 + 2 * i]) for i in range(n_words)]

    def synsets(self, word: str) -> list[tuple[str, int]]:
        """``(pos, offset)`` of every synset of ``word`` (lower-cased, lemmatised), in NLTK's order."""
        w = word.lower().replace(" ", "_")
        out: list[tuple[str, int]] = []
        for pos in POS_FILES:
            for form in self.morphy(w, pos):
                for off in self._index[pos][form]:
                    if (pos, off) not in out:
                        out.append((pos, off))
        return out

    def lemma_names(self, word: str) -> list[str]:
        """All lemma names of all synsets of ``word`` (with ``_`` → space), sorted, unique."""
        names = {n.replace("_", " ") for pos, off in self.synsets(word) for n in self.synset_lemmas(pos, off)}
        return sorted(names)

    def base_forms(self, word: str) -> set[str]:
        w = word.lower()
        return {w} | {f for pos in POS_FILES for f in self.morphy(w, pos)}


@functools.lru_cache(maxsize=4)
def load_wordnet(root: str | None = None) -> WordNet:
    """A cached :class:`WordNet` for ``root`` (or the default place)."""
    return WordNet(root)
