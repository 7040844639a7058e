"""A small, dependency-free client for the OpenAI chat-completions API, hardened for flaky endpoints.

Any server that speaks ``POST {base_url}/chat/completions`` works: vLLM, SGLang,
Ollama (``http://localhost:11434/v1``), the llama.cpp server, OpenAI itself.

Retries. A request is retried when the failure is transient:

- HTTP 408, 409, 425, 429 and every 5xx (``Retry-After``, in seconds or as an
  HTTP date, is honoured: the wait is ``max(Retry-After, backoff)``);
- a timeout (connect or read), a refused, reset or dropped connection, a
  truncated body;
- a 200 whose body is not JSON, has an empty ``choices`` list, or has no
  text content (an empty answer counts as a failure unless ``allow_empty``).

The wait before retry ``k`` (``k = 0, 1, ...``) is *equal-jitter* exponential
backoff: with ``d = min(backoff_max, backoff_base · 2^k)`` it is
``d/2 + U(0, d/2)``, so waits grow geometrically but concurrent clients do not
retry in lockstep. Other 4xx answers are not retried: 400/413/422 fail the item
(its request is wrong, e.g. too long), 401/403/404 raise
:class:`EndpointError` at once because every later request would fail the same
way.

Deadlines. ``timeout`` bounds connecting and each read; ``deadline`` bounds a whole attempt (connect, send,
wait, read): a server that sends one byte every 2 s never trips a per-read timeout, so a watchdog shuts the
socket down when the attempt's deadline passes and the attempt counts as a timeout. A server's
``Retry-After`` is honoured up to ``retry_after_max`` (``--retry-after-max``; 300 s by default).

Secrets. The API key lives only in the ``Authorization`` header; every error
message this module produces goes through :meth:`ChatClient.redact` (:func:`mllmshift.secrets.redact`, with
the key and the secret parts of the base URL: user-info and query values), the URL is only ever shown
redacted (:func:`mllmshift.secrets.redact_url`), and :meth:`ChatClient.config` contains neither. User-info in
the base URL (``http://user:pass@host/v1``) is sent as a Basic ``Authorization`` header, not in the URL.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mllmshift.checked import Checked, bounded
from mllmshift.responders._deadline import Watchdog, deadline_handlers
from mllmshift.errors import MllmshiftError
from mllmshift.secrets import basic_auth, redact, redact_url, redacted_excerpt, request_url, url_secrets

#: HTTP statuses worth retrying
RETRY_STATUSES = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))
#: HTTP statuses that mean the endpoint or credentials are wrong: stop the run
FATAL_STATUSES = frozenset({401, 403, 404})
#: bytes of an error body read (then redacted, then cut to 300 characters for the message)
MAX_ERROR_BODY = 1 << 16


class RequestFailed(MllmshiftError):
    """One request failed for good (after its last retry, or at once for a non-retryable answer)."""

    def __init__(self, message: str, *, attempts: int, status: int | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.kind = kind


class EndpointError(MllmshiftError):
    """The endpoint refuses every request (bad URL, model or credentials): the whole run stops."""


class _Transient(Exception):
    """A retryable failure of one attempt."""

    def __init__(self, kind: str, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


def api_key_from_env(var: str | None) -> str | None:
    """The API key held in the environment variable ``var`` (None when ``var`` is None).

    Raises :class:`MllmshiftError` when the variable is named but unset or empty,
    naming the variable and never a value.
    """
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise MllmshiftError(f"environment variable {var} (named by --api-key-env) is not set or empty")
    return value


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds (int or float) or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy(Checked):
    """How hard to try one request.

    Attributes:
        max_attempts: attempts per request, the first included.
        timeout: seconds for connecting and for each read of one attempt.
        backoff_base: ``d`` of the first retry in seconds (see the module docstring).
        backoff_max: cap of ``d``.
        retry_after_max: cap of a server's ``Retry-After``.
        deadline: seconds for one whole attempt (connect, send, wait, read); at least ``timeout``.
    """

    max_attempts: int = bounded(1, 1000, default=6)
    timeout: float = bounded(0, lo_open=True, default=120.0)
    backoff_base: float = bounded(0, default=1.0)
    backoff_max: float = bounded(0, default=60.0)
    retry_after_max: float = bounded(0, default=300.0)
    deadline: float = bounded(0, lo_open=True, default=600.0)

    def check(self) -> None:
        if self.backoff_max < self.backoff_base:
            raise self.error(f"parameter 'backoff_max' must be at least backoff_base ({self.backoff_base:g}), got "
                             f"{self.backoff_max:g}", param="backoff_max")
        if self.deadline < self.timeout:
            raise self.error(f"parameter 'deadline' (a whole attempt) must be at least timeout ({self.timeout:g}, "
                             f"one read), got {self.deadline:g}", param="deadline")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Equal-jitter wait before retry number ``retry`` (0-based): ``d/2 + U(0, d/2)``."""
        d = min(self.backoff_max, self.backoff_base * (2.0 ** retry))
        return d / 2.0 + rng.uniform(0.0, d / 2.0)


@dataclass(frozen=True)
class ChatResult:
    """A successful completion: its text, the number of attempts it took and the server's finish reason."""

    text: str
    attempts: int
    finish_reason: str | None = None
    model: str | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)


def completions_url(base_url: str) -> str:
    """``{base_url}/chat/completions`` unless the base URL's path already ends with it; the path is extended
    before any query string (``http://h/v1?api-version=1`` → ``http://h/v1/chat/completions?api-version=1``)."""
    parts = urllib.parse.urlsplit(base_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _message_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts else None
    return None


class ChatClient:
    """Sends chat-completion requests with retries; thread-safe (one instance serves a thread pool).

    Args:
        base_url: e.g. ``http://localhost:8000/v1``.
        api_key: the key itself (read it with :func:`api_key_from_env`); None sends no ``Authorization``.
        policy: retry and timeout settings.
        seed: seed of the jitter RNG (reproducible waits).
        sleep: the wait function (tests inject a recorder).
        on_retry: called as ``on_retry(kind, message, attempt, wait)`` before each wait (messages redacted).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        policy: RetryPolicy | None = None,
        seed: int | None = 0,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str, str, int, float], None] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise MllmshiftError(f"base URL must start with http:// or https://, got {redact_url(base_url)!r}")
        full = completions_url(base_url)
        self._secrets = [api_key, *url_secrets(full)]
        #: the endpoint as shown (user-info and query values masked); the request goes to ``self._request_url``
        self.url = redact_url(full)
        self._request_url = request_url(full)
        self.policy = policy or RetryPolicy()
        self._api_key = api_key
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._sleep = sleep
        self._on_retry = on_retry
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         **dict(extra_headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        else:
            self._headers.update(basic_auth(full))
        host = urllib.parse.urlsplit(self._request_url).hostname or ""
        # a local server is reached directly even when the environment sets an HTTP proxy
        self._handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []

    def __repr__(self) -> str:
        return f"ChatClient(url={self.url!r}, policy={self.policy!r})"

    def config(self) -> dict[str, Any]:
        """The endpoint and retry settings (never the key)."""
        return {"url": self.url, "retry": asdict(self.policy)}

    def redact(self, text: str) -> str:
        """``text`` with the API key (in any form a server may echo it) replaced by ``***``."""
        return redact(text, self._secrets)

    # -- one attempt -------------------------------------------------------------------------------
    def _attempt(self, body: bytes, allow_empty: bool) -> ChatResult:
        dog = Watchdog(self.policy.deadline)
        try:
            return self._attempt_within(body, allow_empty, dog)
        except _Transient:
            if dog.fired:
                raise _Transient("timeout", f"timeout: no complete answer within the attempt deadline of "
                                 f"{self.policy.deadline:g}s") from None
            raise
        finally:
            dog.cancel()

    def _attempt_within(self, body: bytes, allow_empty: bool, dog: Watchdog) -> ChatResult:
        req = urllib.request.Request(self._request_url, data=body, headers=self._headers, method="POST")
        opener = urllib.request.build_opener(*self._handlers, *deadline_handlers(dog))
        try:
            with opener.open(req, timeout=self.policy.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            try:
                detail = redacted_excerpt(err.read(MAX_ERROR_BODY), self._secrets)
            except Exception:  # the body itself may be cut off
                detail = ""
            finally:
                err.close()
            msg = f"HTTP {err.code} {err.reason}: {detail}".strip()
            if err.code in RETRY_STATUSES:
                raise _Transient("http", msg, err.code, parse_retry_after(err.headers.get("Retry-After"))) from None
            if err.code in FATAL_STATUSES:
                raise EndpointError(self.redact(f"{self.url}: {msg}")) from None
            raise RequestFailed(self.redact(msg), attempts=0, status=err.code, kind="http") from None
        except urllib.error.URLError as err:
            reason = err.reason
            kind = "timeout" if isinstance(reason, (TimeoutError, socket.timeout)) else "connection"
            raise _Transient(kind, self.redact(f"{kind}: {reason}")) from None
        except (TimeoutError, socket.timeout) as err:
            raise _Transient("timeout", f"timeout after {self.policy.timeout}s: {err}") from None
        except (http.client.HTTPException, ConnectionError, OSError) as err:
            raise _Transient("connection", self.redact(f"connection: {type(err).__name__}: {err}")) from None
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise _Transient("bad-response", f"response is not JSON ({err})") from None
        if not isinstance(obj, dict):
            raise _Transient("bad-response", f"response is a JSON {type(obj).__name__}, not an object")
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Transient("bad-response", "response has no choices")
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        text = _message_text(message.get("content"))
        if text is None:
            raise _Transient("bad-response", "response choice has no text content")
        if not allow_empty and not text.strip():
            raise _Transient("empty", "response text is empty")
        usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else {}
        return ChatResult(text=text, attempts=0, finish_reason=choice.get("finish_reason"),
                          model=obj.get("model") if isinstance(obj.get("model"), str) else None, usage=usage)

    # -- with retries ------------------------------------------------------------------------------
    def chat(self, payload: Mapping[str, Any], *, allow_empty: bool = False) -> ChatResult:
        """POST ``payload`` (a chat-completions request body) and return the first choice's text.

        Raises:
            RequestFailed: after the last retry, or at once for a non-retryable 4xx.
            EndpointError: on 401/403/404.
        """
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        last: _Transient | None = None
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                result = self._attempt(body, allow_empty)
            except _Transient as err:
                last = err
            except RequestFailed as err:
                err.attempts = attempt
                raise
            else:
                return ChatResult(result.text, attempt, result.finish_reason, result.model, result.usage)
            if attempt == self.policy.max_attempts:
                break
            wait = self.policy.backoff(attempt - 1, self._jitter_rng())
            if last.retry_after is not None:
                wait = max(wait, min(last.retry_after, self.policy.retry_after_max))
            if self._on_retry is not None:
                self._on_retry(last.kind, self.redact(str(last)), attempt, wait)
            self._sleep(wait)
        assert last is not None
        raise RequestFailed(self.redact(f"gave up after {self.policy.max_attempts} attempts; last: {last}"),
                            attempts=self.policy.max_attempts, status=last.status, kind=last.kind)

    def _jitter_rng(self) -> random.Random:
        with self._rng_lock:
            return random.Random(self._rng.random())
