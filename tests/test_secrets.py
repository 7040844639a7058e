"""One redaction helper for every HTTP path: responder, judge and translator against a server echoing the key."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "responders"))
from chat_server import ChatServer, status  # noqa: E402

from mllmshift.cli.main import main  # noqa: E402
from mllmshift.secrets import MASK, redact, redacted_excerpt  # noqa: E402

KEY = "sk-test/ECHO+key=\"42\"-9f8e7d"


def test_every_form_of_the_key_is_masked() -> None:
    forms = [KEY, json.dumps(KEY)[1:-1], "sk-test%2FECHO%2Bkey%3D%2242%22-9f8e7d"]  # plain, JSON, URL-encoded
    for form in forms:
        assert redact(f"before {form} after", [KEY]) == f"before {MASK} after"
    assert redact("nothing secret here", [KEY, None, ""]) == "nothing secret here"
    assert redact("a-b", [None]) == "a-b"
    assert redact("k1 and k2", ["k1", "k2"]) == f"{MASK} and {MASK}"


def test_a_body_is_redacted_before_it_is_cut() -> None:
    body = ("x" * 290 + KEY + "tail").encode()
    out = redacted_excerpt(body, [KEY], limit=300)
    assert KEY[:5] not in out and out.startswith("x" * 290 + MASK) and len(out) <= 301
    assert redacted_excerpt(b"short \xff", [KEY]) == "short \ufffd"


def echo_401(request: dict, attempt: int):  # type: ignore[no-untyped-def]
    """A server that quotes the credentials it got in its 401 body (plain and JSON-escaped)."""
    return status(401, body=json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}",
                                                  "header": f"Bearer {KEY}"}}).encode())


def _assert_no_key(folder: Path, *texts: str) -> None:
    escaped = json.dumps(KEY)[1:-1]
    for text in texts:
        assert KEY not in text and escaped not in text
    for f in folder.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert KEY.encode() not in data and escaped.encode() not in data, f


def test_translator_never_shows_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    data = tmp_path / "id.jsonl"
    data.write_text(json.dumps({"id": "a", "question": "What is this?", "reference": "A cat."}) + "\n")
    grid = tmp_path / "grid.yaml"
    grid.write_text("dataset: d\ncombine: [text]\ntext:\n  - {perturbation: translate, levels: null, "
                    "params: {language: German}}\n")
    with ChatServer(echo_401) as srv:
        rc = main(["shift", "grid", str(grid), "--data", str(data), "--out", str(tmp_path / "out"),
                   "--translator-url", srv.base_url, "--translator-model", "m", "--no-progress"])
        assert srv.requests and all(r["headers"]["Authorization"] == f"Bearer {KEY}" for r in srv.requests)
    captured = capsys.readouterr()
    assert rc == 1
    assert "HTTP 401" in captured.err and "Incorrect API key provided: ***" in captured.err
    _assert_no_key(tmp_path / "out", captured.out, captured.err)


def test_translator_api_errors_are_redacted_in_the_exception() -> None:
    from mllmshift.shifts.text.translate import OpenAICompatibleTranslator, TranslationError

    with ChatServer(echo_401) as srv:
        tr = OpenAICompatibleTranslator(srv.base_url, "m", api_key=KEY, max_retries=0)
        with pytest.raises(TranslationError) as err:
            tr.translate("Hallo", "German")
    assert "HTTP 401" in str(err.value) and KEY not in str(err.value) and MASK in str(err.value)


def _run_against_the_echo(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Run a verb (``{url}`` in ``argv`` → the echoing server, key in $ECHO_KEY); it must stop with exit code 1
    and a redacted message, and the key may appear in no output, file or log."""
    with ChatServer(echo_401) as srv:
        rc = main([a.replace("{url}", srv.base_url) for a in argv] + ["--api-key-env", "ECHO_KEY", "--no-progress"])
        assert srv.requests
    captured = capsys.readouterr()
    assert rc == 1 and "401" in captured.err and MASK in captured.err
    _assert_no_key(out, captured.out, captured.err)


def test_responder_never_shows_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_KEY", KEY)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "question": f"Q{i}?"}) + "\n" for i in range(3)))
    _run_against_the_echo(["respond", "--data", str(data), "--out", str(tmp_path / "out"), "--base-url", "{url}",
                           "--model", "m"], tmp_path / "out", capsys)


def test_judge_never_shows_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_KEY", KEY)
    resp = tmp_path / "responses"
    resp.mkdir()
    (resp / "scen.jsonl").write_text("".join(
        json.dumps({"id": str(i), "question": f"Q{i}?", "response": f"answer {i}", "reference": f"ref {i}",
                    "image_text": f"caption {i}"}) + "\n" for i in range(3)))
    _run_against_the_echo(["judge", "--responses", str(resp), "--out", str(tmp_path / "out"), "--base-url", "{url}",
                           "--model", "judge-m"], tmp_path / "out", capsys)
