"""Secrets in URLs never leave the process, and every HTTP attempt is bounded (issue #22, items 2 and 3).

Local servers on 127.0.0.1 fail on purpose: ``echo`` answers 500 with a body that repeats the request line and
every header (so a secret the client sent comes back in the error it prints), ``deny`` answers 401, ``drip``
sends a 200 header and then one body byte every 0.3 s. A secret planted in the user-info and the query of every
URL-taking option (``respond --base-url``, ``judge --base-url``, ``monitor --webhook`` and a monitor config's
``webhook:``, ``shift grid --translator-url``) must appear in no output: stdout, stderr, and every file under
the run's folder.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mllmshift.cli.main import main
from mllmshift.responders.http import ChatClient, RequestFailed, RetryPolicy, completions_url
from mllmshift.secrets import redact_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "responders"))
from chat_server import QuietHandler, QuietServer  # noqa: E402

PASSWORD = "PW-planted-5e1f0c"
TOKEN = "TOK-planted-9a7d3b"
SECRETS = (PASSWORD, TOKEN)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 whose POST answer is chosen by ``mode``; records each request."""

    def __init__(self, mode: str) -> None:
        self.mode, self.requests = mode, []  # type: ignore[var-annotated]
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if outer.mode == "drip":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        for _ in range(200):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.3)
                    except OSError:
                        pass
                    return
                if outer.mode == "retry-after" and len(outer.requests) == 1:
                    self._send(429, b'{"error": "slow down"}', {"Retry-After": "86400"})
                    return
                if outer.mode == "retry-after":
                    self._send(200, json.dumps({"choices": [{"message": {"content": "fine"}}]}).encode())
                    return
                echo = json.dumps({"error": f"POST {self.path}", "headers": dict(self.headers)}).encode()
                self._send(401 if outer.mode == "deny" else 500, echo)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        """``path`` on this server, with the planted password in the user-info and the token in the query."""
        return f"http://user:{PASSWORD}@127.0.0.1:{self.port}{path}?token={TOKEN}&lang=en"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[dict[str, _Server]]:
    made = {m: _Server(m) for m in ("echo", "deny")}
    yield made
    for s in made.values():
        s.close()


def _leaks(tmp: Path, out: str, err: str) -> list[str]:
    found = [f"{where}: {s}" for where, text in (("stdout", out), ("stderr", err)) for s in SECRETS if s in text]
    for f in tmp.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            found += [f"{f.relative_to(tmp)}: {s}" for s in SECRETS if s.encode() in data]
    return found


def _questions(path: Path, n: int = 2) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": f"what is {i}?"}) + "\n" for i in range(n)))
    return path


def _reference(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"s{i}", "question": f"what is thing {i}", "response":
                                        f"thing {i} is {'red' if i % 2 else 'green'} and round",
                                        "reference": f"thing {i} is blue"}) + "\n" for i in range(n)))
    return path


FAST_CLIENT = ["--max-attempts", "2", "--backoff-base", "0.001", "--backoff-max", "0.001", "--timeout", "5"]


@pytest.mark.parametrize("mode", ["echo", "deny"])
def test_respond_base_url_secrets_appear_nowhere(mode, servers, tmp_path, capsys):
    q = _questions(tmp_path / "q.jsonl")
    code = main(["respond", "--data", str(q), "--out", str(tmp_path / "out"), "--model", "m", "--no-progress",
                 "--base-url", servers[mode].url("/v1"), *FAST_CLIENT])
    out, err = capsys.readouterr()
    assert code != 0 and servers[mode].requests, (code, err)
    assert "Traceback" not in err
    assert not _leaks(tmp_path, out, err)
    # the request itself carried them: user-info as Basic auth, the query after the path
    req = servers[mode].requests[0]
    assert req["path"] == f"/v1/chat/completions?token={TOKEN}&lang=en"
    assert req["headers"]["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("mode", ["echo", "deny"])
def test_judge_base_url_secrets_appear_nowhere(mode, servers, tmp_path, capsys):
    d = tmp_path / "in"
    (d / "responses").mkdir(parents=True)
    q = d / "questions.jsonl"
    q.write_text("".join(json.dumps({"question_id": i, "text": f"question {i}?", "category": "conv"}) + "\n"
                         for i in range(2)))
    for name, text in (("refs.jsonl", "reference"), ("responses/m.jsonl", "model")):
        (d / name).write_text("".join(json.dumps({"question_id": i, "prompt": f"question {i}?",
                                                  "text": f"{text} answer {i}"}) + "\n" for i in range(2)))
    code = main(["judge", "--responses", str(d / "responses"), "--questions", str(q), "--references",
                 str(d / "refs.jsonl"), "--out", str(tmp_path / "out"), "--model", "j", "--no-progress",
                 "--bootstrap", "0", "--base-url", servers[mode].url("/v1"), *FAST_CLIENT])
    out, err = capsys.readouterr()
    assert code != 0 and servers[mode].requests, (code, out, err)
    assert "Traceback" not in err
    assert not _leaks(tmp_path, out, err)


def test_shift_translator_url_secrets_appear_nowhere(servers, tmp_path, capsys):
    d = tmp_path / "d.jsonl"
    d.write_text(json.dumps({"id": "a", "question": "what is this?"}) + "\n")
    code = main(["shift", "grid", "--preset", "paper-translation", "--data", str(d), "--out", str(tmp_path / "out"),
                 "--translator-url", servers["deny"].url("/v1"), "--translator-model", "t", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1 and servers["deny"].requests, (code, err)
    assert "Traceback" not in err and "127.0.0.1" in err  # the endpoint is named, redacted
    assert not _leaks(tmp_path, out, err)


@pytest.mark.parametrize("via", ["flag", "config"])
def test_monitor_webhook_secrets_appear_nowhere(via, servers, tmp_path, capsys):
    ref = _reference(tmp_path / "ref.jsonl", 60)
    stream = tmp_path / "s.jsonl"
    stream.write_text("".join(json.dumps({"id": f"t{i}", "timestamp": 1_700_000_000 + i, "question":
                                          f"completely other words {i}", "response": f"zebra {i} qux"}) + "\n"
                              for i in range(40)))
    hook = servers["echo"].url("/hook")
    base = ["monitor", "--reference", str(ref), "--stream", str(stream), "--out", str(tmp_path / "out"),
            "--text-encoder", "hashing-bow", "--image-encoder", "none", "--no-cache", "--window", "20",
            "--null-draws", "40", "--bootstrap", "10", "--consecutive", "1", "--alpha", "0.5",
            "--terms", "text,answer", "--threshold", "text=0", "--threshold", "answer=0", "--quiet"]
    if via == "flag":
        argv = [*base, "--webhook", hook, "--webhook-retries", "0", "--webhook-timeout", "5"]
    else:
        cfg = tmp_path / "m.yaml"
        cfg.write_text(f"webhook: {{url: '{hook}', retries: 0, timeout: 5}}\n")
        argv = [*base, "--config", str(cfg)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert servers["echo"].requests, "no alert was posted"
    assert "webhook http://***@127.0.0.1" in err
    leaks = [x for x in _leaks(tmp_path, out, err) if not x.startswith("m.yaml:")]  # the user's own config
    assert not leaks


def test_a_bad_webhook_url_is_shown_redacted(tmp_path, capsys):
    ref = _reference(tmp_path / "ref.jsonl", 30)
    (tmp_path / "s.jsonl").write_text("")
    code = main(["monitor", "--reference", str(ref), "--stream", str(tmp_path / "s.jsonl"), "--out",
                 str(tmp_path / "out"), "--webhook", f"ftp://u:{PASSWORD}@h/x?token={TOKEN}"])
    out, err = capsys.readouterr()
    assert code == 1 and "field '--webhook'" in err
    assert not _leaks(tmp_path, out, err)


def test_urls_are_redacted_and_the_endpoint_keeps_its_query():
    assert redact_url(f"http://u:{PASSWORD}@h:1/v1?token={TOKEN}&a=1#frag") == "http://***@h:1/v1?token=***&a=***"
    assert completions_url("http://h/v1?api_key=K") == "http://h/v1/chat/completions?api_key=K"
    assert completions_url("http://h/v1/?k=1") == "http://h/v1/chat/completions?k=1"
    client = ChatClient(f"http://u:{PASSWORD}@h/v1?api_key={TOKEN}")
    assert PASSWORD not in repr(client) + json.dumps(client.config()) and TOKEN not in repr(client)


def test_a_server_dripping_one_byte_at_a_time_is_cut_off_at_the_attempt_deadline():
    srv = _Server("drip")
    try:
        client = ChatClient(f"http://127.0.0.1:{srv.port}/v1",
                            policy=RetryPolicy(max_attempts=1, timeout=1.0, deadline=1.0))
        t0 = time.monotonic()
        with pytest.raises(RequestFailed, match="attempt deadline of 1s") as info:
            client.chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert info.value.kind == "timeout"
        # each read got a byte within the 1 s read timeout, so only the deadline can have ended it: the drip
        # alone would take 200 × 0.3 s = 60 s
        assert time.monotonic() - t0 < 30
    finally:
        srv.close()


def test_retry_after_is_capped_by_the_policy():
    srv = _Server("retry-after")
    waits: list[float] = []
    try:
        client = ChatClient(f"http://127.0.0.1:{srv.port}/v1", sleep=waits.append,
                            policy=RetryPolicy(max_attempts=2, backoff_base=0.0, backoff_max=0.0,
                                               retry_after_max=2.5))
        assert client.chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).text == "fine"
    finally:
        srv.close()
    assert waits == [2.5]  # the server asked for 86400 s


def test_the_deadline_and_retry_after_cap_are_flags(tmp_path, capsys):
    q = _questions(tmp_path / "q.jsonl")
    for flags, field in ((["--deadline", "5", "--timeout", "10"], "--deadline"),
                         (["--retry-after-max", "-1"], "--retry-after-max")):
        code = main(["respond", "--data", str(q), "--out", str(tmp_path / "o"), "--model", "m", *flags])
        err = capsys.readouterr().err
        assert code == 1 and f"field '{field}'" in err, err
        assert not (tmp_path / "o").exists()
