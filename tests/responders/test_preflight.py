"""The one server check of respond/judge (mllmshift.responders.preflight): fails in seconds when nothing
listens or the key is refused, goes on for any other HTTP answer, warns when the model is not listed."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mllmshift.cli.main import main
from mllmshift.errors import DataError, MllmshiftWarning
from mllmshift.responders.preflight import check_server, models_url


class _Server:
    """GET /v1/models answers ``status`` with ``body``; records the Authorization headers it saw."""

    def __init__(self, status: int, body: object) -> None:
        self.status, self.body, self.auth = status, body, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.auth.append(self.headers.get("Authorization"))
                data = json.dumps(outer.body).encode()
                self.send_response(outer.status if self.path == "/v1/models" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> _Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the with-block ends: nothing listens there


def test_models_url_strips_the_completions_path():
    assert models_url("http://h:1/v1/") == "http://h:1/v1/models"
    assert models_url("http://h:1/v1/chat/completions") == "http://h:1/v1/models"


def test_a_listing_is_returned_and_the_key_sent():
    with _Server(200, {"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}) as srv:
        assert check_server(srv.base_url, api_key="sk-abc", model="m2") == ["m1", "m2"]
    assert srv.auth == ["Bearer sk-abc"]


def test_an_unlisted_model_warns_and_goes_on():
    with _Server(200, {"data": [{"id": "m1"}]}) as srv, pytest.warns(MllmshiftWarning, match="'other'"):
        assert check_server(srv.base_url, model="other") == ["m1"]


@pytest.mark.parametrize("status", [404, 500, 503])
def test_any_other_http_answer_means_the_server_is_up(status):
    with _Server(status, {"error": "x"}) as srv:
        assert check_server(srv.base_url, model="m") is None


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_stops_and_the_key_is_not_shown(status):
    with _Server(status, {"error": "bad key sk-secret-123"}) as srv, pytest.raises(DataError) as err:
        check_server(srv.base_url, api_key="sk-secret-123", model="m")
    assert f"HTTP {status}" in str(err.value) and "--api-key-env" in str(err.value)
    assert "sk-secret-123" not in str(err.value)


def test_nothing_listening_stops_at_once_with_the_flag_named():
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(DataError) as err:
        check_server(url)
    assert "--base-url" in str(err.value) and "no server answers" in str(err.value)


@pytest.mark.parametrize("verb", ["respond", "judge"])
def test_the_verbs_stop_before_any_item_and_leave_nothing(verb, tmp_path, capsys, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    data = tmp_path / "q.jsonl"
    rows = [{"id": str(i), "question": f"q{i}?", "response": f"a{i}", "reference": f"r{i}"} for i in range(30)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = {"respond": ["respond", "--base-url", url, "--model", "m", "--data", str(data), "--out", str(out)],
            "judge": ["judge", "--base-url", url, "--model", "m", "--responses", str(data), "--out", str(out)]}[verb]
    import mllmshift.responders.http as http

    def no_item_request(*a: object, **k: object) -> None:
        raise AssertionError("an item was sent: the server check did not stop the run first")

    monkeypatch.setattr(http.ChatClient, "_attempt", no_item_request)
    monkeypatch.setattr(http.time, "sleep", no_item_request)  # and no retry back-off was waited
    rc = main(argv)
    assert rc == 1 and not out.exists()
    assert "field '--base-url': no server answers" in capsys.readouterr().err
