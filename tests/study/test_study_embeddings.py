"""``mllmshift study --embeddings DIR``: the study reads its splits' embeddings from a store written by
``mllmshift embed`` (streamed) and gives the numbers of the study that embeds them itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_helpers import make_study  # noqa: E402

from mllmshift.cli.main import main  # noqa: E402
from mllmshift.errors import DataError  # noqa: E402
from mllmshift.study import StudyConfig, run_study  # noqa: E402

EMBED = ["--text-encoder", "hashing-bow", "--text-encoder-option", "dim=32", "--image-encoder", "none", "--no-cache"]


def test_a_study_reads_a_store_and_gives_the_embedding_studys_numbers(tmp_path, capsys):
    cfg = StudyConfig.from_yaml(make_study(tmp_path))
    files = [tmp_path / "data" / "id.jsonl", *sorted((tmp_path / "data" / "shifted").glob("*.jsonl"))]
    store = tmp_path / "emb"
    assert main(["embed", *map(str, files), "--out", str(store), *EMBED]) == 0
    capsys.readouterr()
    here = run_study(cfg, tmp_path / "here", progress=False, cache_dir=None).results
    read = run_study(cfg, tmp_path / "read", progress=False, cache_dir=None, embeddings=store).results
    assert not (tmp_path / "read" / ".state" / "embedded").exists()  # nothing embedded by the study
    assert read["id"]["emi"]["value"] == pytest.approx(here["id"]["emi"]["value"], rel=1e-5, abs=1e-7)
    assert [s["name"] for s in read["scenarios"]] == [s["name"] for s in here["scenarios"]]
    for a, b in zip(read["scenarios"], here["scenarios"]):
        for key in ("emi", "emid", "bound"):
            assert a[key]["value"] == pytest.approx(b[key]["value"], rel=1e-5, abs=1e-7), (a["name"], key)

    partial = tmp_path / "partial"
    assert main(["embed", str(files[0]), "--out", str(partial), *EMBED]) == 0
    with pytest.raises(DataError, match=f"no split '{files[1].stem}' in the embedding store"):
        run_study(cfg, tmp_path / "partial-out", progress=False, cache_dir=None, embeddings=partial)
