"""End-to-end ``respond`` against a fault-injecting chat-completions server on 127.0.0.1.

Over 200 items with ~20% of all requests faulted (429 + Retry-After, 500, hang past the timeout,
dropped connection, malformed JSON, empty choice list), every item ends answered or listed as
failed; the answer file has no duplicates and no lost lines; a client killed midway and resumed
ends with the same bytes as an uninterrupted run; the API key appears in no file and no log.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chat_server import ChatServer, drop, hang, last_text, ok, raw, status

from mllmshift.cli import respond as respond_cli
from mllmshift.vocab import EXIT_PARTIAL
from mllmshift.io.jsonl import write_canonical
from mllmshift.records import Sample, Split
from mllmshift.responders.answer_file import failures_path, read_answer_file, respond_to_file
from mllmshift.responders.openai_compat import OpenAICompatibleResponder

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-live-DO-NOT-LEAK-8f3a91c2"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
FAULTS = ("429", "500", "hang", "drop", "malformed", "empty-choices")


def expected(question: str) -> str:
    return f"answer to: {question}"


def fault_plan(rate: float = 0.2, doomed: frozenset[str] = frozenset(), echo_key: bool = False):
    """Deterministic faults: request (question, attempt) is faulted when its hash falls under ``rate``."""

    def script(req, attempt):
        q = last_text(req)
        if q in doomed:
            body = f"internal error (auth was Bearer {KEY})".encode() if echo_key else b"internal error"
            return status(500, body=body)
        h = hashlib.sha256(f"{q}|{attempt}".encode()).digest()
        if int.from_bytes(h[:4], "big") / 2**32 < rate:
            kind = FAULTS[h[4] % len(FAULTS)]
            return {"429": status(429, {"Retry-After": "0"}), "500": status(500), "hang": hang(0.8),
                    "drop": drop(), "malformed": raw(b'{"choices": [{"mess'),
                    "empty-choices": raw(b'{"choices": []}')}[kind]
        return ok(expected(q))

    return script


def make_split(tmp_path: Path, n: int) -> Split:
    (tmp_path / "img.png").write_bytes(PNG)
    samples = [Sample(str(i), f"question number {i}?", image=str(tmp_path / "img.png") if i % 50 == 0 else None)
               for i in range(n)]
    return Split("scenario_a", samples)


def responder(url: str, **kw) -> OpenAICompatibleResponder:
    return OpenAICompatibleResponder("scripted-model", url, concurrency=8, max_attempts=8, timeout=0.25,
                                     backoff_base=0.002, backoff_max=0.01, **kw)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_200_items_under_20_percent_faults_end_answered_or_listed(tmp_path):
    split = make_split(tmp_path, 200)
    doomed = frozenset({"question number 7?", "question number 77?", "question number 150?"})
    out = tmp_path / "out" / "scenario_a.jsonl"
    with ChatServer(fault_plan(0.2, doomed)) as srv:
        report = respond_to_file(responder(srv.base_url), split, out)
        replies = dict(srv.replies)
        n_requests = len(srv.requests)
    # every fault kind was really injected, at roughly the planned rate
    for kind in ("status429", "status500", "hang", "drop", "raw"):
        assert replies.get(kind, 0) > 0, replies
    faulted = n_requests - replies["ok"]
    assert faulted >= 0.15 * n_requests
    # every item is answered or listed, the doomed ones listed
    assert report.n_answered + len(report.failed) == 200
    assert set(report.failed_ids) == {"7", "77", "150"}
    assert all(f.attempts == 8 for f in report.failed)
    recs = lines(out)
    ids = [r["question_id"] for r in recs]
    assert len(ids) == len(set(ids)) == 197
    assert ids == [i for i in range(200) if i not in (7, 77, 150)]  # dataset order, ints as in LLaVA files
    assert all(r["text"] == expected(r["prompt"]) for r in recs)
    assert all(r["metadata"]["config"]["model"] == "scripted-model" for r in recs)
    listed = json.loads(failures_path(out).read_text())
    assert [x["question_id"] for x in listed["items"]] == [7, 77, 150]

    # resume: only the failed items are asked again, and the file completes
    with ChatServer(fault_plan(0.2)) as srv:
        report2 = respond_to_file(responder(srv.base_url), split, out)
        asked = {last_text(r["body"]) for r in srv.requests}
    assert asked == set(doomed)
    assert report2.n_existing == 197 and report2.n_answered == 3 and not report2.failed
    assert [r["question_id"] for r in lines(out)] == list(range(200))
    assert not failures_path(out).exists()


def test_torn_last_line_is_cut_and_that_item_is_asked_again(tmp_path):
    split = make_split(tmp_path, 6)
    out = tmp_path / "a.jsonl"
    with ChatServer(fault_plan(0.0)) as srv:
        respond_to_file(responder(srv.base_url), split, out)
        full = out.read_bytes()
        # simulate a crash inside the write of the last record
        keep = full.splitlines(keepends=True)
        out.write_bytes(b"".join(keep[:4]) + keep[4][:17])
        assert set(read_answer_file(out)) == {"0", "1", "2", "3"}
        n_before = len(srv.requests)
        report = respond_to_file(responder(srv.base_url), split, out)
        assert len(srv.requests) - n_before == 2
    assert report.n_existing == 4 and report.n_answered == 2
    assert out.read_bytes() == full


def test_answers_from_another_config_are_refused_not_mixed(tmp_path):
    from mllmshift.errors import DataError

    split = make_split(tmp_path, 3)
    out = tmp_path / "a.jsonl"
    with ChatServer(fault_plan(0.0)) as srv:
        respond_to_file(responder(srv.base_url), split.subset([0, 1]), out)
        with pytest.raises(DataError, match="another configuration"):
            respond_to_file(responder(srv.base_url, temperature=0.7), split, out)
        with pytest.raises(DataError, match="does not have"):
            respond_to_file(responder(srv.base_url), split.subset([2]), out)


def _cli_args(url: str, data: Path, out: Path, concurrency: int = 4) -> list[str]:
    return ["--responder", "openai-compatible", "--base-url", url, "--model", "scripted-model",
            "--api-key-env", "MLLMSHIFT_TEST_KEY", "--data", str(data), "--out", str(out),
            "--concurrency", str(concurrency), "--max-attempts", "8", "--timeout", "0.25",
            "--backoff-base", "0.002", "--backoff-max", "0.01", "--no-progress"]


def test_killed_midway_and_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setenv("MLLMSHIFT_TEST_KEY", KEY)
    split = make_split(tmp_path, 120)
    data = tmp_path / "data"
    write_canonical(split, data / "scen.jsonl")
    small = split.subset(range(10), name="small").map(lambda s: s.with_(question="small " + s.question))
    write_canonical(small, data / "small.jsonl")

    # uninterrupted reference run
    with ChatServer(fault_plan(0.2)) as srv:
        assert respond_cli.main(_cli_args(srv.base_url, data, tmp_path / "ref")) == 0
    reference = (tmp_path / "ref" / "scen.jsonl").read_bytes()
    assert len(reference.splitlines()) == 120

    # a client process killed with SIGKILL while answering
    out = tmp_path / "killed"
    target = out / "scen.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    code = "import sys; from mllmshift.cli.respond import main; sys.exit(main(sys.argv[1:]))"
    with ChatServer(fault_plan(0.2), delay=0.02) as srv:
        proc = subprocess.Popen([sys.executable, "-c", code, *_cli_args(srv.base_url, data, out, 2)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if target.exists() and target.read_bytes().count(b"\n") >= 40:
                    break
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            if proc.stderr:
                proc.stderr.close()
    partial = read_answer_file(target)
    assert 40 <= len(partial) < 120, "the kill must land midway"

    # resume: nothing already written is asked again, and the file equals the uninterrupted one
    with ChatServer(fault_plan(0.2)) as srv:
        assert respond_cli.main(_cli_args(srv.base_url, data, out)) == 0
        asked = {last_text(r["body"]) for r in srv.requests if r["path"].endswith("/chat/completions")}
    asked = {q for q in asked if not q.startswith("small ")}
    already = {rec["prompt"] for _, rec in partial.values()}
    assert asked.isdisjoint(already)
    assert len(asked) == 120 - len(partial)
    assert target.read_bytes() == reference
    assert (out / "small.jsonl").read_bytes() == (tmp_path / "ref" / "small.jsonl").read_bytes()


def test_api_key_never_written_to_files_or_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLLMSHIFT_TEST_KEY", KEY)
    split = make_split(tmp_path, 30)
    write_canonical(split, tmp_path / "data.jsonl")
    out = tmp_path / "out"
    doomed = frozenset({"question number 3?"})
    with ChatServer(fault_plan(0.3, doomed, echo_key=True)) as srv:
        rc = respond_cli.main(_cli_args(srv.base_url, tmp_path / "data.jsonl", out))
        assert all(r["headers"]["Authorization"] == f"Bearer {KEY}" for r in srv.requests)
    assert rc == EXIT_PARTIAL == 3
    captured = capsys.readouterr()
    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {p.name for p in written} == {"data.jsonl", "data.failed.json", "respond.log", "respond.json"}
    log = written[out / "respond.log"].decode()
    assert "retrying" in log and "failed after 8 attempts" in log  # the log really records the faults
    assert "***" in written[out / "data.failed.json"].decode()  # the echoed key was there, redacted
    for path, content in written.items():
        assert KEY.encode() not in content, path
    assert KEY not in captured.out and KEY not in captured.err
