"""A real HTTP server on 127.0.0.1 that speaks the chat-completions API with scripted answers and faults.

``ChatServer(script)`` starts a ``ThreadingHTTPServer`` on an ephemeral port;
``script(request_json, attempt) -> Reply`` decides each answer, where
``attempt`` counts the requests seen so far with the same message content
(1 for the first). Every request is recorded (headers and body) for the tests.

Replies: :func:`ok` (a normal completion), :func:`status` (an HTTP error with
headers), :func:`hang` (sleep past the client's timeout, then answer),
:func:`drop` (close the connection without a response), :func:`raw` (a 200
whose body is given verbatim: malformed JSON, an empty choice list, ...).

:class:`QuietHandler` and :class:`QuietServer` are the quiet HTTP/1.1 pieces under it, for servers that answer
otherwise (tests/corpus/test_urls.py: a server that echoes the request's headers, or drips its body).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    kind: str  # ok | status | hang | drop | raw
    text: str = ""
    code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0


def ok(text: str) -> Reply:
    return Reply("ok", text=text)


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b'{"error": "scripted"}') -> Reply:
    return Reply("status", code=code, headers=headers or {}, body=body)


def hang(seconds: float, text: str = "late") -> Reply:
    return Reply("hang", text=text, seconds=seconds)


def drop() -> Reply:
    return Reply("drop")


def raw(body: bytes) -> Reply:
    return Reply("raw", body=body)


def completion(text: str, model: str = "scripted") -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()


class QuietHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 handler that logs nothing and answers with :meth:`_send` (a JSON body with its length)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    """A threading server whose handler threads do not block exit and whose dropped clients print nothing."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # client gone: expected here
        pass


def content_key(request: dict[str, Any]) -> str:
    """A stable key of a request's messages (what one item asks)."""
    return hashlib.sha256(json.dumps(request.get("messages"), sort_keys=True).encode()).hexdigest()


def last_text(request: dict[str, Any]) -> str:
    """The text of the last user message (plain string or text part)."""
    content = request["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if p.get("type") == "text")


class ChatServer:
    """Context manager: ``with ChatServer(script) as srv: srv.base_url``."""

    def __init__(self, script: Callable[[dict[str, Any], int], Reply], delay: float = 0.0) -> None:
        self.script = script
        self.delay = delay
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []  # {"headers": ..., "body": ..., "reply": kind}
        self.replies: Counter[str] = Counter()
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                try:
                    req = json.loads(body)
                except json.JSONDecodeError:
                    self._send(400, b'{"error": "bad json"}')
                    return
                key = content_key(req)
                with outer.lock:
                    outer.attempts[key] += 1
                    attempt = outer.attempts[key]
                reply = outer.script(req, attempt)
                with outer.lock:
                    outer.requests.append({"headers": dict(self.headers), "body": req, "reply": reply.kind,
                                           "path": self.path})
                    outer.replies[reply.kind if reply.kind != "status" else f"status{reply.code}"] += 1
                if outer.delay:
                    time.sleep(outer.delay)
                if reply.kind == "ok":
                    self._send(200, completion(reply.text))
                elif reply.kind == "status":
                    self._send(reply.code, reply.body, reply.headers)
                elif reply.kind == "raw":
                    self._send(200, reply.body)
                elif reply.kind == "hang":
                    time.sleep(reply.seconds)
                    try:
                        self._send(200, completion(reply.text))
                    except OSError:
                        pass
                elif reply.kind == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
