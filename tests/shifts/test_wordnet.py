"""The packaged WordNet table equals the WordNet 3.0 database, table for table and replacement for replacement."""

from __future__ import annotations

import json
import lzma
import warnings
from importlib import resources
from pathlib import Path

import pytest

from mllmshift.errors import MllmshiftError, MllmshiftWarning
from mllmshift.shifts import text_perturbations
from mllmshift.shifts.grid import GridSpec, sample_seeds
from mllmshift.shifts.text.wordnet import (
    PACKAGED_TABLE,
    TABLE_MAGIC,
    WordNet,
    WordNetNotFound,
    find_wordnet,
    load_wordnet,
)
from mllmshift.study.demo import GRIDS


@pytest.fixture(scope="module")
def database() -> WordNet:
    try:
        root = find_wordnet()
    except WordNetNotFound:
        pytest.skip("no WordNet 3.0 database to compare with (apt-get install wordnet-base)")
    return WordNet.from_database(root)


@pytest.fixture(scope="module")
def table() -> WordNet:
    return WordNet.from_table()


def test_the_table_ships_small_with_its_licence() -> None:
    assert PACKAGED_TABLE.is_file() and PACKAGED_TABLE.stat().st_size < 3_000_000
    licence = (PACKAGED_TABLE.parent / "LICENSE").read_text()
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in licence
    assert resources.files("mllmshift").joinpath("data/wordnet/wordnet-3.0-synonyms.txt.xz").is_file()


def test_tables_are_identical(table: WordNet, database: WordNet) -> None:
    assert table == database
    assert table.to_table() == database.to_table()


def _sample_words(database: WordNet) -> list[str]:
    words = sorted(database._index["n"])[::97] + sorted(database._index["v"])[::31] + sorted(database._index["a"])[::41]
    words += sorted(database._index["r"])[::17] + sorted(database._exceptions["v"])[::23]
    inflected = ["cats", "running", "taken", "better", "geese", "suitcases", "wolves", "boxes", "flies", "went",
                 "colour", "photos", "standing", "happier", "Dogs", "New_York", "ice cream"]
    return words + inflected


def test_the_same_synonyms_for_a_sample_of_words(table: WordNet, database: WordNet) -> None:
    words = _sample_words(database)
    assert len(words) > 2_000
    for w in words:
        assert table.lemma_names(w) == database.lemma_names(w), w
        assert table.base_forms(w) == database.base_forms(w), w
        assert [(p, table.synset_lemmas(n)) for p, n in table.synsets(w)] == \
            [(p, database.synset_lemmas(n)) for p, n in database.synsets(w)], w


def test_the_same_replacements_on_the_demo_questions(database: WordNet) -> None:
    root = str(find_wordnet())
    questions = [json.loads(line) for line in
                 resources.files("mllmshift").joinpath("data/demo/questions.jsonl").read_text().splitlines()]
    scenarios = [s for g in GRIDS for s in GridSpec.from_dict(g).scenarios()
                 if s.text is not None and s.text[0] == "synonym"]
    assert len(scenarios) >= 3
    compared = changed = 0
    for scen in scenarios:
        level = scen.text[1]
        for style in ("preserve", "eda"):
            packed = text_perturbations.create("synonym", level=level, style=style)
            full = text_perturbations.create("synonym", level=level, style=style, wordnet_dir=root)
            for q in questions:
                for seed in (sample_seeds(0, scen, q["id"])[1], 1, 2):
                    a, b = packed.apply(q["question"], seed), full.apply(q["question"], seed)
                    assert a == b, (q["question"], level, style, seed)
                    compared += 1
                    changed += a.changed
    assert compared >= 3 * 2 * 36 * 3 and changed > compared // 2


def test_the_default_is_the_table_and_a_bad_environment_folder_warns(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.delenv("MLLMSHIFT_WORDNET_DIR", raising=False)
    assert load_wordnet().source == str(PACKAGED_TABLE)
    missing = str(tmp_path / "nonexistent")
    monkeypatch.setenv("MLLMSHIFT_WORDNET_DIR", missing)
    with pytest.warns(MllmshiftWarning, match=f"MLLMSHIFT_WORDNET_DIR={missing} holds no WordNet database"):
        assert load_wordnet().source == str(PACKAGED_TABLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per process, not at every synonym shift
        assert load_wordnet().source == str(PACKAGED_TABLE)
    with pytest.raises(WordNetNotFound, match="no WordNet database"):
        load_wordnet(str(tmp_path))


def test_an_environment_folder_with_a_database_is_used(monkeypatch: pytest.MonkeyPatch, database: WordNet) -> None:
    monkeypatch.setenv("MLLMSHIFT_WORDNET_DIR", database.source)
    assert load_wordnet().source == database.source


def test_a_damaged_table_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.xz"
    bad.write_bytes(b"not xz")
    with pytest.raises(MllmshiftError, match="cannot read the WordNet table"):
        WordNet.from_table(bad)
    bad.write_bytes(lzma.compress(b"something else\n"))
    with pytest.raises(MllmshiftError, match="not a WordNet table"):
        WordNet.from_table(bad)
    bad.write_bytes(lzma.compress(f"{TABLE_MAGIC}\nX 0\n".encode()))
    with pytest.raises(MllmshiftError, match="expected section 'S'"):
        WordNet.from_table(bad)
