"""``shift grid``, ``embed`` and ``judge`` write the provenance ``run`` block the other verbs write
(mllmshift.provenance.run_record): the command line as given, every input with its size and SHA-256 (checked
against hashlib), the version and the host; in the grid's per-scenario manifest, in each embedded split's
manifest entry and in each judge summary."""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

import mllmshift
from mllmshift.cli.main import main

_RESPONDERS = str(Path(__file__).resolve().parent / "responders")
if _RESPONDERS not in sys.path:
    sys.path.insert(0, _RESPONDERS)
from chat_server import ChatServer, ok  # noqa: E402


def _write_data(path: Path, n: int = 12) -> Path:
    path.write_text("".join(json.dumps({"id": str(i), "question": f"what colour is thing {i}?",
                                        "response": f"thing {i} is red", "reference": f"thing {i} is blue"}) + "\n"
                            for i in range(n)))
    return path


def _grid(tmp: Path) -> tuple[list[str], list[dict[str, Any]]]:
    (tmp / "grid.yaml").write_text("dataset: d\nseed: 0\ncombine: [text]\ntext:\n"
                                   "  - {perturbation: keyboard, levels: [3]}\n")
    argv = ["shift", "grid", "grid.yaml", "--data", "data.jsonl", "--out", "out", "--no-progress"]
    assert main(argv) == 0
    return argv, [json.loads(p.read_text())["run"] for p in sorted((tmp / "out").glob("*/manifest.json"))]


def _embed(tmp: Path) -> tuple[list[str], list[dict[str, Any]]]:
    argv = ["embed", "data.jsonl", "--out", "emb", "--text-encoder", "hashing-bow", "--text-encoder-option",
            "dim=16", "--no-cache", "--quiet"]
    assert main(argv) == 0
    return argv, [e["run"] for e in json.loads((tmp / "emb" / "manifest.json").read_text())["splits"].values()]


def _judge(tmp: Path) -> tuple[list[str], list[dict[str, Any]]]:
    with ChatServer(lambda request, attempt: ok("7 8\nAssistant 2 is better.")) as srv:
        argv = ["judge", "--responses", "data.jsonl", "--out", "judged", "--base-url", srv.base_url, "--model", "m",
                "--bootstrap", "20", "--max-attempts", "1", "--quiet"]
        assert main(argv) == 0
    return argv, [json.loads(p.read_text())["run"] for p in sorted((tmp / "judged").glob("*.summary.json"))]


VERBS = {"shift-grid": _grid, "embed": _embed, "judge": _judge}


@pytest.mark.parametrize("verb", list(VERBS))
def test_the_verb_writes_the_run_block(verb, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = _write_data(tmp_path / "data.jsonl")
    argv, runs = VERBS[verb](tmp_path)
    capsys.readouterr()
    assert len(runs) == 1  # one scenario, one split, one summary
    run = runs[0]
    assert run["command"] == shlex.join(["mllmshift", *argv])
    assert run["mllmshift"] == mllmshift.__version__ and run["host"]["cpus"] >= 1
    by_path = {i["path"]: i for i in run["inputs"]}
    want = str(data.resolve())
    assert by_path[want] == {"path": want, "bytes": data.stat().st_size,
                             "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
