"""Real HTTP servers on 127.0.0.1 (port 0) that play an EAS service, for client tests.

The fixtures that start them are in ``conftest.py``.

``stub_server(handler)`` starts a threaded HTTP/1.1 keep-alive server; ``handler``
gets every request as a :class:`Seen` and returns a :class:`Reply`. ``close()``
also cuts the connections kept alive, so a closed server is really gone.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: Message
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Pause between the headers and the body, to make body reading measurable.
    body_delay_s: float = 0.0


Handler = Callable[[Seen], Reply]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's pool is exercised
    # Headers and body go out in separate writes: without this, Nagle + delayed
    # ACK add 40 ms to every response.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.stub.connections.add(self.connection)

    def finish(self) -> None:
        self.server.stub.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        stub = self.server.stub
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        seen = Seen(self.command, path, query, self.headers, body)
        stub.seen.append(seen)
        reply = stub.handler(seen)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body_delay_s:
            self.wfile.flush()
            time.sleep(reply.body_delay_s)  # a slow body, not synchronisation
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: StubServer

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (timeout tests) leaves a broken pipe: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class StubServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.connections: set[socket.socket] = set()
        # Handlers that hang wait on this; close() sets it so their threads end.
        self.release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.stub = self
        self.port = self._server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        self.closed = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)


def echo(seen: Seen) -> Reply:
    return Reply(200, seen.body)


class TextRequest:
    """A user-defined request, as the official client allows (``to_string``/``parse_response``)."""

    def __init__(self, data: bytes | str) -> None:
        self.data = data

    def to_string(self) -> bytes | str:
        return self.data

    def parse_response(self, data: bytes) -> TextResponse:
        return TextResponse(data)


class TextResponse:
    def __init__(self, data: bytes) -> None:
        self.data = data


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``condition`` until it is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.01)
