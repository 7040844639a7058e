"""ChatClient against a real local HTTP server: each fault kind, Retry-After, give-up, fatal statuses, redaction."""

from __future__ import annotations

import base64
import email.utils
import json
import random

import pytest
from chat_server import ChatServer, drop, hang, ok, raw, status

from mllmshift.records import Sample
from mllmshift.responders.http import (
    ChatClient,
    EndpointError,
    RequestFailed,
    RetryPolicy,
    api_key_from_env,
    completions_url,
    parse_retry_after,
)
from mllmshift.responders.openai_compat import OpenAICompatibleResponder, build_messages
from mllmshift.errors import MllmshiftError

FAST = RetryPolicy(max_attempts=4, timeout=0.3, backoff_base=0.001, backoff_max=0.004)


def payload(text: str = "hi") -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


def first_fault_then_ok(fault):
    return lambda req, attempt: fault if attempt == 1 else ok("fine")


@pytest.mark.parametrize("fault,kind", [
    (status(500), "http"),
    (status(503), "http"),
    (status(429), "http"),
    (hang(1.0), "timeout"),
    (drop(), "connection"),
    (raw(b'{"choices": [{"message": {"content": "x"'), "bad-response"),  # malformed JSON
    (raw(b'{"choices": []}'), "bad-response"),
    (raw(b'[1, 2]'), "bad-response"),
    (raw(b'{"choices": [{"message": {"content": null}}]}'), "bad-response"),
    (raw(b'{"choices": [{"message": {"content": "  "}}]}'), "empty"),
])
def test_each_fault_is_retried_once_then_answered(fault, kind):
    retries = []
    with ChatServer(first_fault_then_ok(fault)) as srv:
        client = ChatClient(srv.base_url, policy=FAST, sleep=lambda s: None,
                            on_retry=lambda k, m, a, w: retries.append(k))
        result = client.chat(payload())
        assert len(srv.requests) == 2
    assert result.text == "fine" and result.attempts == 2 and result.finish_reason == "stop"
    assert retries == [kind]


def test_retry_after_seconds_is_honoured_over_tiny_backoff():
    waits: list[float] = []
    script = first_fault_then_ok(status(429, {"Retry-After": "7"}))
    with ChatServer(script) as srv:
        client = ChatClient(srv.base_url, policy=FAST, sleep=waits.append)
        assert client.chat(payload()).text == "fine"
    assert waits == [7.0]


def test_retry_after_is_capped():
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=2, timeout=1, backoff_base=0.001, retry_after_max=2.5)
    with ChatServer(first_fault_then_ok(status(503, {"Retry-After": "3600"}))) as srv:
        ChatClient(srv.base_url, policy=policy, sleep=waits.append).chat(payload())
    assert waits == [2.5]


def test_parse_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None
    date = email.utils.formatdate(1000.0 + 12, usegmt=True)
    assert parse_retry_after(date, now=1000.0) == pytest.approx(12.0)


def test_backoff_is_equal_jitter_exponential_and_capped():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    rng = random.Random(1)
    for retry in range(8):
        d = min(3.0, 0.5 * 2 ** retry)
        waits = [policy.backoff(retry, rng) for _ in range(200)]
        assert min(waits) >= d / 2 and max(waits) <= d
        assert max(waits) - min(waits) > d / 4  # jitter actually spreads the waits


def test_gives_up_after_max_attempts_with_exact_request_count():
    waits: list[float] = []
    with ChatServer(lambda req, a: status(502)) as srv:
        client = ChatClient(srv.base_url, policy=FAST, sleep=waits.append)
        with pytest.raises(RequestFailed) as info:
            client.chat(payload())
        assert len(srv.requests) == FAST.max_attempts
    assert info.value.attempts == FAST.max_attempts and info.value.status == 502
    assert len(waits) == FAST.max_attempts - 1


def test_client_errors_fail_the_item_at_once_and_auth_errors_stop_the_run():
    with ChatServer(lambda req, a: status(400)) as srv:
        with pytest.raises(RequestFailed) as info:
            ChatClient(srv.base_url, policy=FAST, sleep=lambda s: None).chat(payload())
        assert len(srv.requests) == 1 and info.value.status == 400
    for code in (401, 403, 404):
        with ChatServer(lambda req, a, code=code: status(code)) as srv:
            with pytest.raises(EndpointError):
                ChatClient(srv.base_url, policy=FAST, sleep=lambda s: None).chat(payload())
            assert len(srv.requests) == 1


def test_key_goes_in_the_header_and_is_redacted_from_errors(monkeypatch):
    key = "sk-test-SECRET-123456"
    monkeypatch.setenv("MLLMSHIFT_TEST_KEY", key)

    # a hostile server that echoes the credentials back in its error body
    with ChatServer(lambda req, a: status(500, body=f"echo Bearer {key}".encode())) as srv:
        client = ChatClient(srv.base_url, api_key=api_key_from_env("MLLMSHIFT_TEST_KEY"), policy=FAST,
                            sleep=lambda s: None)
        with pytest.raises(RequestFailed) as info:
            client.chat(payload())
        assert srv.requests[0]["headers"]["Authorization"] == f"Bearer {key}"
    assert key not in str(info.value) and "***" in str(info.value)
    assert key not in repr(client) and key not in json.dumps(client.config())


def test_missing_key_variable_is_named_not_guessed(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(MllmshiftError, match="NO_SUCH_KEY_VAR"):
        api_key_from_env("NO_SUCH_KEY_VAR")
    assert api_key_from_env(None) is None


def test_completions_url():
    assert completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert completions_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"
    with pytest.raises(MllmshiftError):
        ChatClient("localhost:8000")


def test_request_carries_image_as_data_url_and_generation_parameters(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    (tmp_path / "a.png").write_bytes(png)
    s = Sample("q1", "What is shown?", image=str(tmp_path / "a.png"))
    with ChatServer(lambda req, a: ok("a cat")) as srv:
        r = OpenAICompatibleResponder("llava-hf/llava-1.5-7b-hf", srv.base_url, temperature=0.3, max_tokens=77,
                                      seed=5, top_p=0.9, system_prompt="Be brief.", concurrency=1)
        assert r.respond([s, Sample("q2", "text only")]) == ["a cat", "a cat"]
        bodies = sorted((x["body"] for x in srv.requests), key=lambda b: len(json.dumps(b)))
    text_only, with_image = bodies
    assert with_image["model"] == "llava-hf/llava-1.5-7b-hf"
    assert (with_image["temperature"], with_image["max_tokens"], with_image["seed"], with_image["top_p"]) == \
        (0.3, 77, 5, 0.9)
    assert with_image["messages"][0] == {"role": "system", "content": "Be brief."}
    parts = with_image["messages"][1]["content"]
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png
    assert parts[1] == {"type": "text", "text": "What is shown?"}
    assert text_only["messages"][1] == {"role": "user", "content": "text only"}


def test_jpeg_mime_and_unreadable_image_is_a_data_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"0" * 20)
    msgs = build_messages(Sample("x", "q", image=str(tmp_path / "a.jpg")))
    assert msgs[0]["content"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    from mllmshift.errors import DataError
    from mllmshift.responders.openai_compat import check_images

    with pytest.raises(DataError, match="bad.jpg"):
        check_images([Sample("x", "q", image=str(tmp_path / "bad.jpg"))])
    with pytest.raises(DataError, match="not found"):
        check_images([Sample("x", "q", image=str(tmp_path / "missing.png"))])


def test_retry_policy_refuses_a_backoff_cap_below_its_base():
    """A cap below the first wait would make every wait the cap: refused when the policy is built."""
    from mllmshift.checked import FieldError

    with pytest.raises(FieldError, match=r"parameter 'backoff_max' must be at least backoff_base \(5\), got 2"):
        RetryPolicy(backoff_base=5.0, backoff_max=2.0)
    assert RetryPolicy(backoff_base=2.0, backoff_max=2.0).backoff_max == 2.0  # equal is a fixed wait, allowed
