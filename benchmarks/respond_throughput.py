"""Throughput of ``respond_to_file`` against a local chat-completions server with a fixed latency.

Prints items/s for a few (latency, concurrency) settings. The server answers every request after
``latency`` seconds; the ideal rate is ``concurrency / latency``, so the ratio shows the client's
overhead (JSON, HTTP, one fsync-ed append per item, the final atomic rewrite).

    python benchmarks/respond_throughput.py [--items 400]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mllmshift.records import Sample, Split
from mllmshift.responders.answer_file import respond_to_file
from mllmshift.responders.openai_compat import OpenAICompatibleResponder


def serve(latency: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def do_POST(self):  # noqa: N802
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(latency)
            body = json.dumps({"choices": [{"message": {"content": "echo " + req["messages"][-1]["content"]},
                                            "finish_reason": "stop"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=400)
    args = ap.parse_args()
    split = Split("bench", [Sample(str(i), f"question {i}") for i in range(args.items)])
    print(f"{'latency_s':>9s} {'concurrency':>11s} {'items':>6s} {'wall_s':>7s} {'items/s':>8s} {'ideal/s':>8s}")
    for latency, conc in [(0.0, 1), (0.0, 8), (0.05, 8), (0.05, 32)]:
        srv = serve(latency)
        url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
        with tempfile.TemporaryDirectory() as tmp:
            r = OpenAICompatibleResponder("bench", url, concurrency=conc, timeout=10)
            t0 = time.perf_counter()
            report = respond_to_file(r, split, Path(tmp) / "bench.jsonl")
            wall = time.perf_counter() - t0
        srv.shutdown()
        srv.server_close()
        assert report.complete
        ideal = f"{conc / latency:8.0f}" if latency else "       -"
        print(f"{latency:9.2f} {conc:11d} {args.items:6d} {wall:7.2f} {args.items / wall:8.0f} {ideal}")


if __name__ == "__main__":
    main()
