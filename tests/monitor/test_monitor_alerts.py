"""The k-consecutive rule and the sinks; the webhook is tested against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mllmshift.monitor.alerts import AlertRule, StdoutSink, WebhookSink, alert_line

ALERT = {"window": 7, "start": "2025-01-01T00:00:00Z", "end": "2025-01-01T01:00:00Z", "consecutive": 2,
         "terms": {"text": {"value": 0.3, "low": 0.2, "high": 0.4, "threshold": 0.1, "p": 0.005, "z": 5.0}},
         "moved_most": "text", "top_samples": [{"id": "q9", "source": "s.jsonl:9", "score": 0.7}]}


def test_rule_is_one_decision_per_window_and_fires_once_per_run_of_k():
    rule = AlertRule(["text", "answer"], 2)
    # a window is over when any watched term is; the run continues across terms (text then answer)
    seq = [{"text": True}, {"text": True}, {"text": True}, {"text": False}, {"text": True}, {"answer": True},
           {"answer": True, "text": True}, {}, {"answer": True}, {"answer": True, "text": True}]
    fired = [rule.update(o) for o in seq]
    assert fired == [[], ["text"], [], [], [], ["answer"], [], [], [], ["text", "answer"]]
    assert rule.state() == {"window": 2}
    again = AlertRule(["text", "answer"], 2)
    again.restore(rule.state())
    assert again.update({"text": True}) == rule.update({"text": True}) == []  # the run of 3 already fired
    assert again.update({}) == rule.update({}) == []
    assert again.update({"answer": True}) == [] and again.update({"answer": True}) == ["answer"]


def test_rule_with_k_one_fires_on_every_new_run():
    rule = AlertRule(["text"], 1)
    assert [rule.update({"text": o}) for o in (True, True, False, True)] == [["text"], [], [], ["text"]]


def test_stdout_line_names_window_terms_and_samples():
    out = io.StringIO()
    StdoutSink(out).send(ALERT)
    line = out.getvalue()
    assert line == alert_line(ALERT) + "\n"
    assert "window 7" in line and "text 0.3 > threshold 0.1 (p = 0.005)" in line and "q9 (s.jsonl:9)" in line


class _Server:
    """A local server that answers the queued status codes in turn (then 200) and keeps the bodies."""

    def __init__(self, statuses=()):
        self.statuses, self.bodies = list(statuses), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append((self.headers["Content-Type"], json.loads(body)))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def make(statuses=()):
        servers.append(_Server(statuses))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_webhook_posts_the_alert_as_json(server):
    srv = server()
    assert WebhookSink(srv.url, timeout=2, retries=0).send(ALERT) is True
    assert srv.bodies == [("application/json", ALERT)]


def test_webhook_retries_after_server_errors(server):
    srv = server([500, 503])
    sink = WebhookSink(srv.url, timeout=2, retries=3, backoff=0.01)
    assert sink.send(ALERT) is True and len(srv.bodies) == 3 and sink.failures == 0


def test_webhook_that_stays_down_reports_and_does_not_raise(server, capsys):
    srv = server([500] * 10)
    sink = WebhookSink(srv.url, timeout=2, retries=2, backoff=0.01)
    assert sink.send(ALERT) is False and len(srv.bodies) == 3 and sink.failures == 1
    assert "failed after 3 tries (HTTP 500)" in capsys.readouterr().err
    closed = _Server()
    url = closed.url
    closed.close()  # nothing listens there any more
    sink = WebhookSink(url, timeout=1, retries=1, backoff=0.01)
    assert sink.send(ALERT) is False and sink.failures == 1


def test_webhook_url_must_be_http():
    with pytest.raises(ValueError, match="http"):
        WebhookSink("file:///etc/passwd")
