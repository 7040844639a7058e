"""A deadline for one whole HTTP attempt, on top of urllib's per-read timeout.

urllib's ``timeout`` bounds connecting and each read; a server that sends one byte every 2 s never trips it and
can hold an attempt open for ever. :func:`deadline_handlers` gives an opener HTTP(S) handlers whose connections
arm a :class:`Watchdog` on their socket once connected: when the attempt's deadline passes, the watchdog shuts
the socket down, the blocked read fails, and the caller (:class:`mllmshift.responders.http.ChatClient`) sees
``Watchdog.fired`` and counts the attempt as a timeout.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.request
from typing import Any


class Watchdog:
    """Shuts a connection's socket down when an attempt's deadline passes (see the module docstring)."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.fired = False
        self._timer: threading.Timer | None = None

    def arm(self, sock: socket.socket) -> None:
        def fire() -> None:
            self.fired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        self._timer = threading.Timer(max(0.0, self.end - time.monotonic()), fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def deadline_handlers(dog: Watchdog) -> list[urllib.request.BaseHandler]:
    """HTTP(S) handlers whose connections arm ``dog`` on their socket once connected."""

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            dog.arm(self.sock)

    class Conns(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            dog.arm(self.sock)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(Conn, req)

    class Handlers(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(Conns, req, context=self._context)

    return [Handler(), Handlers()]
