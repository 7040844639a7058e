"""``mllmshift embed --out DIR`` then ``emid --embeddings DIR``: the same numbers as embedding in memory."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mllmshift.cli.main import main
from mllmshift.encoders.store import EmbeddingStore
from mllmshift.errors import DataError
from mllmshift.vocab import EXIT_BAD_INPUT

from tests.cli.test_emi_emid import FAST_PAPER, _write_split


def _json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_embed_then_score_from_disk_equals_scoring_in_memory(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 70, 0, 0.0)
    b = _write_split(tmp_path / "shift.jsonl", 70, 1, 0.8)
    store = tmp_path / "emb"
    assert main(["embed", str(a), str(b), "--out", str(store), "--text-encoder", "hashing-bow", "--no-cache",
                 "--chunk", "16"]) == 0
    printed = capsys.readouterr()
    assert "texts/s" in printed.out and str(store / "id") in printed.out
    manifest = json.loads((store / "manifest.json").read_text())
    assert sorted(manifest["splits"]) == ["id", "shift"]
    entry = manifest["splits"]["id"]
    assert entry["n"] == 70 and sorted(entry["fields"]) == ["reference", "response", "x_text"]
    x = np.load(store / "id" / "x_text.npy", mmap_mode="r")
    assert x.shape == (70, entry["fields"]["x_text"]["dim"]) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    EmbeddingStore(store).verify("id")

    args = ["emid", "--id", str(a), "--ood", str(b), *FAST_PAPER, "--bootstrap-scheme", "poisson"]
    mem = _json(capsys, args)
    disk = _json(capsys, args + ["--embeddings", str(store)])
    for key in ("value", "mi_response", "mi_reference"):
        assert disk["id"]["emi"][key] == pytest.approx(mem["id"]["emi"][key], rel=1e-5, abs=1e-7)
    sd, sm = disk["scenarios"][0], mem["scenarios"][0]
    assert sd["emid"]["value"] == pytest.approx(sm["emid"]["value"], rel=1e-5, abs=1e-7)
    assert sd["emid"]["ci"]["scheme"] == "poisson"
    assert sd["bound"]["value"] == pytest.approx(sm["bound"]["value"], rel=1e-5)
    assert disk["device"] == "cpu"


def test_a_store_of_other_data_is_refused(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 40, 0, 0.0)
    store = tmp_path / "emb"
    assert main(["embed", str(a), "--out", str(store), "--text-encoder", "hashing-bow", "--no-cache"]) == 0
    _write_split(tmp_path / "id.jsonl", 40, 5, 0.0)  # other content under the same name
    assert main(["emi", str(a), *FAST_PAPER, "--embeddings", str(store)]) == EXIT_BAD_INPUT
    assert "embedded from other data" in capsys.readouterr().err
    with pytest.raises(DataError, match="no split 'nope'"):
        EmbeddingStore(store).entry("nope")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_and_a_bad_engine_value_are_located_errors(tmp_path, capsys):
    a = _write_split(tmp_path / "id.jsonl", 30, 0, 0.0)
    assert main(["emi", str(a), *FAST_PAPER, "--device", "cuda"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "field 'device'" in err and "no CUDA device" in err and "Traceback" not in err
    out = tmp_path / "emb"
    assert main(["embed", str(a), "--out", str(out), "--text-encoder", "hashing-bow", "--no-cache", "--engine", "ray",
                 "--ray-concurrency", "0"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "field '--ray-concurrency': must be an integer >= 1, got 0" in err and not out.exists()
