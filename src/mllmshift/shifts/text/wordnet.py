"""WordNet 3.0 for synonyms: a packaged table by default, or Princeton's database files.

Synonym replacement needs, per part of speech, the lemma index (lemma → synsets), the exception
lists of *morphy* and the lemma names of each synset. :class:`WordNet` holds exactly these tables
and answers as NLTK's ``WordNetCorpusReader.synsets`` does: the word is lower-cased and lemmatised
with morphy (exception lists, then suffix rules) for each part of speech.

Two sources give the same tables (tested table for table):

- the **packaged table** ``mllmshift/data/wordnet/wordnet-3.0-synonyms.txt.xz`` (≈ 1.5 MB), derived
  from the WordNet 3.0 database files by ``scripts/build_wordnet_table.py`` and shipped with
  WordNet's licence (``mllmshift/data/wordnet/LICENSE``), so ``pip install mllmshift`` alone is enough;
- a **database folder** of ``index.{noun,verb,adj,adv}``, ``data.*`` and ``*.exc`` (Debian's
  ``wordnet-base`` installs one in ``/usr/share/wordnet``; an unzipped NLTK ``wordnet`` corpus is one).

:func:`load_wordnet` uses the folder given (``wordnet_dir=``), else ``$MLLMSHIFT_WORDNET_DIR`` when
it holds a database (when it does not, a warning says so and the packaged table is used), else the
packaged table.
"""

from __future__ import annotations

import functools
import lzma
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from mllmshift.errors import MllmshiftError, MllmshiftWarning

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
#: the packaged table (see the module docstring)
PACKAGED_TABLE = Path(__file__).resolve().parents[2] / "data" / "wordnet" / "wordnet-3.0-synonyms.txt.xz"
TABLE_MAGIC = "mllmshift-wordnet-table 1"

Index = Mapping[str, Mapping[str, tuple[int, ...]]]
Exceptions = Mapping[str, Mapping[str, tuple[str, ...]]]


class WordNetNotFound(MllmshiftError):
    """No WordNet database folder where one was asked for."""


def find_wordnet(root: str | os.PathLike[str] | None = None) -> Path:
    """A WordNet database folder: ``root``, else ``$MLLMSHIFT_WORDNET_DIR``, else a standard place."""
    cands = [root] if root is not None else [os.environ.get("MLLMSHIFT_WORDNET_DIR"), *CANDIDATE_DIRS]
    for c in cands:
        if c and (Path(c).expanduser() / "index.noun").is_file():
            return Path(c).expanduser()
    raise WordNetNotFound(
        "no WordNet database (index.noun, data.noun, ...) in " + ", ".join(str(c) for c in cands if c)
        + "; leave wordnet_dir unset to use the table packaged with mllmshift, or install the database "
          "(apt-get install wordnet-base)")


def _database_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(byte offset, line)`` of the records of a database file (the licence header lines start with spaces)."""
    offset = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.startswith(b" "):
                yield offset, raw.decode("utf-8")
            offset += len(raw)


class WordNet:
    """Lemma → synsets → lemma names, and morphy (see the module docstring).

    Args:
        index: per part of speech (``n``, ``v``, ``a``, ``r``), lemma → synset numbers (the index file's order).
        exceptions: per part of speech, inflected form → base forms (the ``*.exc`` files).
        synsets: the lemma names of synset number ``i`` (underscores for spaces, markers removed).
        source: where the tables came from.
    """

    def __init__(self, index: Index, exceptions: Exceptions, synsets: Sequence[tuple[str, ...]], source: str) -> None:
        self._index = {pos: dict(index.get(pos, {})) for pos in POS_FILES}
        self._exceptions = {pos: dict(exceptions.get(pos, {})) for pos in POS_FILES}
        self._synsets = list(synsets)
        self.source = source

    # ------------------------------------------------------------------------------------------ sources
    @classmethod
    def from_database(cls, root: str | os.PathLike[str]) -> WordNet:
        """The tables of the database files in ``root`` (synsets numbered by part of speech, then offset)."""
        folder = find_wordnet(root)
        synsets: list[tuple[str, ...]] = []
        number: dict[tuple[str, int], int] = {}
        for pos, fname in POS_FILES.items():
            for offset, line in _database_lines(folder / f"data.{fname}"):
                parts = line.split()
                n_words = int(parts[3], 16)
                number[(pos, offset)] = len(synsets)
                synsets.append(tuple(_MARKER.sub("", parts[4 + 2 * i]) for i in range(n_words)))
        index: dict[str, dict[str, tuple[int, ...]]] = {}
        exceptions: dict[str, dict[str, tuple[str, ...]]] = {}
        for pos, fname in POS_FILES.items():
            entries: dict[str, tuple[int, ...]] = {}
            for _, line in _database_lines(folder / f"index.{fname}"):
                parts = line.split()
                n_synsets, n_ptr = int(parts[2]), int(parts[3])
                offsets = parts[4 + n_ptr + 2:]
                if len(offsets) != n_synsets:
                    raise MllmshiftError(f"{folder / f'index.{fname}'}: malformed entry for '{parts[0]}'")
                entries[parts[0]] = tuple(number[(pos, int(o))] for o in offsets)
            index[pos] = entries
            exc_path = folder / f"{fname}.exc"
            exc: dict[str, tuple[str, ...]] = {}
            if exc_path.is_file():
                for line in exc_path.read_text(encoding="utf-8").splitlines():
                    parts = line.split()
                    if parts:
                        exc[parts[0]] = tuple(parts[1:])
            exceptions[pos] = exc
        return cls(index, exceptions, synsets, str(folder))

    @classmethod
    def from_table(cls, path: str | os.PathLike[str] = PACKAGED_TABLE) -> WordNet:
        """The tables of a packed table file (:meth:`to_table`, xz-compressed)."""
        p = Path(path)
        try:
            text = lzma.decompress(p.read_bytes()).decode("utf-8")
        except (OSError, lzma.LZMAError, UnicodeDecodeError) as err:
            raise MllmshiftError(f"{p}: cannot read the WordNet table ({err}); reinstall mllmshift") from None
        lines = text.split("\n")
        if lines[0] != TABLE_MAGIC:
            raise MllmshiftError(f"{p}: not a WordNet table of this version (first line {lines[0][:40]!r})")
        pos_i = 1

        def section(tag: str) -> list[list[str]]:
            nonlocal pos_i
            head = lines[pos_i].split()
            if head[:-1] != tag.split():
                raise MllmshiftError(f"{p}: expected section {tag!r}, found {lines[pos_i][:40]!r}")
            count = int(head[-1])
            rows = [ln.split(" ") for ln in lines[pos_i + 1:pos_i + 1 + count]]
            pos_i += 1 + count
            return rows

        synsets = [tuple(r) for r in section("S")]
        index = {pos: {r[0]: tuple(int(x) for x in r[1:]) for r in section(f"I {pos}")} for pos in POS_FILES}
        exceptions = {pos: {r[0]: tuple(r[1:]) for r in section(f"E {pos}")} for pos in POS_FILES}
        return cls(index, exceptions, synsets, str(p))

    def to_table(self) -> str:
        """The tables as text (:meth:`from_table` reads it back after xz compression)."""
        out = [TABLE_MAGIC, f"S {len(self._synsets)}", *(" ".join(s) for s in self._synsets)]
        for pos in POS_FILES:
            out.append(f"I {pos} {len(self._index[pos])}")
            out.extend(" ".join([lemma, *map(str, ids)]) for lemma, ids in self._index[pos].items())
        for pos in POS_FILES:
            out.append(f"E {pos} {len(self._exceptions[pos])}")
            out.extend(" ".join([form, *bases]) for form, bases in self._exceptions[pos].items())
        return "\n".join(out) + "\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordNet):
            return NotImplemented
        return (self._index, self._exceptions, self._synsets) == (other._index, other._exceptions, other._synsets)

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------------------------------ queries
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

    def synset_lemmas(self, synset: int) -> list[str]:
        """The lemma names of synset number ``synset`` (underscores for spaces, as in the files)."""
        return list(self._synsets[synset])

    def synsets(self, word: str) -> list[tuple[str, int]]:
        """``(pos, synset number)`` of every synset of ``word`` (lower-cased, lemmatised), in NLTK's order."""
        w = word.lower().replace(" ", "_")
        out: list[tuple[str, int]] = []
        for pos in POS_FILES:
            for form in self.morphy(w, pos):
                for number in self._index[pos][form]:
                    if (pos, number) not in out:
                        out.append((pos, number))
        return out

    def lemma_names(self, word: str) -> list[str]:
        """All lemma names of all synsets of ``word`` (with ``_`` → space), sorted, unique."""
        names = {n.replace("_", " ") for _, number in self.synsets(word) for n in self._synsets[number]}
        return sorted(names)

    def base_forms(self, word: str) -> set[str]:
        w = word.lower()
        return {w} | {f for pos in POS_FILES for f in self.morphy(w, pos)}


@functools.lru_cache(maxsize=4)
def _cached(kind: str, where: str) -> WordNet:
    return WordNet.from_database(where) if kind == "database" else WordNet.from_table(where)


def load_wordnet(root: str | None = None) -> WordNet:
    """The WordNet tables to use (see the module docstring); cached per source."""
    if root is not None:
        return _cached("database", str(find_wordnet(root)))
    return _cached(*_default_source(os.environ.get("MLLMSHIFT_WORDNET_DIR") or None))


@functools.lru_cache(maxsize=8)
def _default_source(env: str | None) -> tuple[str, str]:
    """``(kind, where)`` for ``$MLLMSHIFT_WORDNET_DIR`` = ``env``; warns once per value that holds no database."""
    if env:
        if (Path(env).expanduser() / "index.noun").is_file():
            return "database", str(Path(env).expanduser())
        warnings.warn(f"MLLMSHIFT_WORDNET_DIR={env} holds no WordNet database (index.noun); using the WordNet 3.0 "
                      "table packaged with mllmshift, which gives the same synonyms", MllmshiftWarning, stacklevel=3)
    return "table", str(PACKAGED_TABLE)
