"""The run record of every result (mllmshift.provenance.run_record): the command line or Python call, inputs
with sizes and SHA-256 (checked against hashlib), the git revision (checked on a repository made here), host,
UTC time; the study report's Reproduce section gives the command."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

import mllmshift
from mllmshift.cli.main import main
from mllmshift.provenance import git_revision, input_record, run_record, set_invocation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_api import FAST, rows  # noqa: E402


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_inputs_are_listed_with_size_and_sha256(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_bytes(b'{"x": 1}\n' * 1000)
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.txt").write_text("bee")
    (folder / ".hidden").write_text("not listed")
    rec = input_record([a, folder, tmp_path / "missing", a])
    assert rec[0] == {"path": str(a.resolve()), "bytes": 9000, "sha256": _sha(a)}
    assert rec[1]["files"] == 1 and rec[1]["bytes"] == 3
    assert rec[1]["contents"] == [{"path": str(Path("sub/b.txt")), "bytes": 3, "sha256": _sha(folder / "sub/b.txt")}]
    assert len(rec) == 2  # the missing path is skipped, the repeated one listed once


def test_git_revision_of_a_checkout_and_of_none(tmp_path):
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    repo = tmp_path / "r"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert git_revision(repo) == {"commit": head, "dirty": False}
    (repo / "f").write_text("2")
    assert git_revision(repo) == {"commit": head, "dirty": True}
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_revision(plain) is None


def test_the_record_takes_the_invocation_and_the_time_in_utc(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text("{}\n")
    with set_invocation("mllmshift emi x.jsonl", [f]):
        rec = run_record(threads={"threads": 1}, device="cpu", estimator_fingerprint="abc")
    assert rec["command"] == "mllmshift emi x.jsonl" and rec["inputs"][0]["sha256"] == _sha(f)
    created = datetime.fromisoformat(rec["created"])
    assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 600
    assert rec["host"]["threads"] == 1 and rec["host"]["device"] == "cpu" and rec["host"]["cpus"] >= 1
    assert rec["estimator_fingerprint"] == "abc" and rec["mllmshift"] == mllmshift.__version__
    assert run_record()["command"] is None  # outside an invocation nothing is made up


def _canonical(path: Path, n: int, seed: int, drift: float) -> None:
    path.write_text("".join(json.dumps({"id": str(r["qid"]), "question": r["prompt"], "response": r["answer"],
                                        "reference": r["gold"]}) + "\n" for r in rows(n, seed, drift)))


@pytest.mark.parametrize("verb", ["emid", "emi"])
def test_emi_and_emid_json_hold_the_command_and_the_inputs(verb, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _canonical(tmp_path / "id.jsonl", 30, 0, 0.0)
    _canonical(tmp_path / "ood.jsonl", 30, 1, 0.8)
    data = ["--id", "id.jsonl", "--ood", "ood.jsonl"] if verb == "emid" else ["id.jsonl"]
    names = ("id.jsonl", "ood.jsonl") if verb == "emid" else ("id.jsonl",)
    argv = [verb, *data, "--text-encoder", "hashing-bow", "--no-cache",
            "--mi-estimator", "infonce", "--estimator-option", "max_steps=100", "--n-estimators", "1",
            "--bootstrap", "20", "--threads", "1", "--quiet", "--out", "r.json"]
    assert main(argv) == 0
    run = json.loads((tmp_path / "r.json").read_text())["run"]
    assert run["command"] == shlex.join(["mllmshift", *argv])
    by_path = {i["path"]: i for i in run["inputs"]}
    for name in names:
        f = tmp_path / name
        assert by_path[str(f.resolve())] == {"path": str(f.resolve()), "bytes": f.stat().st_size, "sha256": _sha(f)}
    assert str((tmp_path / "r.json").resolve()) not in by_path  # outputs are not inputs
    assert run["host"]["threads"] == 1


def test_the_python_api_records_its_call(tmp_path):
    _canonical(tmp_path / "id.jsonl", 30, 0, 0.0)
    ood = [{"id": str(r["qid"]), "question": r["prompt"], "response": r["answer"], "reference": r["gold"]}
           for r in rows(30, 1, 0.8)]
    res = mllmshift.evaluate(id=str(tmp_path / "id.jsonl"), ood={"drift": ood}, **{**FAST, "n_resamples": 10})
    cmd = res.run["command"]
    assert cmd.startswith(f"mllmshift.evaluate(id={str(tmp_path / 'id.jsonl')!r}, ood={{'drift': <30 records>}}")
    assert "n_resamples=10" in cmd and "text_encoder='hashing-bow'" in cmd
    assert [i["sha256"] for i in res.run["inputs"]] == [_sha(tmp_path / "id.jsonl")]


def test_a_study_report_says_how_to_reproduce_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shifted").mkdir()
    _canonical(tmp_path / "id.jsonl", 30, 0, 0.0)
    _canonical(tmp_path / "shifted" / "keyboard_3.jsonl", 30, 1, 0.8)
    (tmp_path / "study.yaml").write_text(
        "id: id.jsonl\nscenarios: [{folder: shifted}]\nthreads: 1\nencoders: {text: hashing-bow, image: null}\n"
        "estimator: {name: infonce, options: {max_steps: 100}, n_estimators: 1}\nbootstrap: {n_resamples: 20}\n"
        "correlation: {n_resamples: 20}\n")
    argv = ["study", "study.yaml", "--out", "out", "--quiet", "--log-samples-text"]
    assert main(argv) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["run"]["command"] == "mllmshift study study.yaml --out out --quiet --log-samples-text"
    first = json.loads((tmp_path / "out" / "samples" / "keyboard_3.jsonl").read_text().splitlines()[0])
    want = json.loads((tmp_path / "shifted" / "keyboard_3.jsonl").read_text().splitlines()[0])
    assert (first["doc_id"], first["split"], first["input"], first["target"]) == \
        (0, "keyboard_3", want["question"], want["reference"])
    assert [i["sha256"] for i in results["run"]["inputs"]] == [_sha(tmp_path / "study.yaml")]
    report = (tmp_path / "out" / "report.md").read_text()
    section = report[report.index("Reproduce"):]
    assert "Command: `mllmshift study study.yaml --out out --quiet --log-samples-text`" in section
    assert f"mllmshift {mllmshift.__version__}" in section and str((tmp_path / "study.yaml").resolve()) in section
