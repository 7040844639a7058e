"""``emi``/``emid --engine ray --embeddings DIR``: Ray writes the store into DIR, which is then checked and claimed
as ``embed --out`` is (cli/_outputs.py): a folder of the user's own files is refused before any work, a folder
written by it is marked and taken again. Ray itself is stood in for by the local embedding (the Ray engine's
equality with it is tests/engines/test_ray_engine.py's)."""

from __future__ import annotations

import pytest

from mllmshift.cli._outputs import MARKER
from mllmshift.cli.main import main
from mllmshift.vocab import EXIT_BAD_INPUT

from tests.cli.test_emi_emid import _write_split

FAST = ["--text-encoder", "hashing-bow", "--text-encoder-option", "dim=16", "--no-cache", "--mi-estimator", "gaussian",
        "--n-estimators", "1", "--bootstrap", "0",
        "--threads", "1", "--quiet", "--engine", "ray"]


def _argv(verb: str, a, b) -> list[str]:
    return ["emi", str(a)] if verb == "emi" else ["emid", "--id", str(a), "--ood", str(b)]


@pytest.mark.parametrize("verb", ["emi", "emid"])
def test_a_folder_of_the_users_files_is_refused_before_ray_starts(verb, tmp_path, capsys):
    a, b = _write_split(tmp_path / "id.jsonl", 30, 0, 0.0), _write_split(tmp_path / "ood.jsonl", 30, 1, 0.8)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main([*_argv(verb, a, b), *FAST, "--embeddings", str(mine)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    # refused by the folder check, not by the missing Ray package (which would be the next thing to fail)
    assert "field '--embeddings'" in err and "holds files mllmshift did not write (notes.txt)" in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    (mine / "notes.txt").unlink()
    (mine / "manifest.json").write_text('{"format": "somebody-elses/2"}')  # a manifest, but not ours
    assert main([*_argv(verb, a, b), *FAST, "--embeddings", str(mine)]) == EXIT_BAD_INPUT
    assert "not an embedding store" in capsys.readouterr().err


def test_the_folder_ray_writes_is_claimed_and_taken_again(tmp_path, capsys, monkeypatch):
    from mllmshift.engines import ray_engine
    from mllmshift.evaluation.embedding import Encoders, embed_to_store

    calls = []

    def local_stand_in(splits, cfg, store, engine, *, cache_dir=None, num_cpus=None):
        calls.append(store.root)
        assert (store.root / MARKER).is_file()  # claimed before anything is written
        return [embed_to_store(s, Encoders(cfg), None, store) for s in splits]

    monkeypatch.setattr(ray_engine, "embed_with_ray", local_stand_in)
    a = _write_split(tmp_path / "id.jsonl", 30, 0, 0.0)
    emb = tmp_path / "emb"
    for _ in range(2):  # the second run finds the marker: the folder is its own
        assert main(["emi", str(a), *FAST, "--embeddings", str(emb)]) == 0
    capsys.readouterr()
    assert calls == [emb, emb]
    assert sorted(p.name for p in emb.iterdir()) == sorted([MARKER, "manifest.json", "id"])
