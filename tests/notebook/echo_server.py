"""A tiny real EAS-like HTTP server for notebook tests: checks the token, echoes the body."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from easlab import _auth


class EchoServer:
    """``POST /api/predict/<name>`` → the body back (401 on a bad token, 503 every Nth call).

    With ``signature``, ``GET`` answers it (a tensor service); without, ``GET`` gets
    an empty 200, as a python processor's would. ``reply`` replaces the echo.
    ``status_of(n)`` gives the status of the n-th POST (from 1) with a good token (the
    body then is the echo for a 200, ``status <code>`` otherwise).
    ``received`` keeps every (method, body).
    """

    def __init__(
        self,
        token: str = "secret-token",
        fail_every: int = 0,
        signature: dict | None = None,
        reply: bytes | None = None,
        status_of: Callable[[int], int] | None = None,
    ) -> None:
        self.token = token
        self.fail_every = fail_every
        self.signature = signature
        self.reply = reply
        self.status_of = status_of
        self.calls = 0
        self.lock = threading.Lock()
        self.signed = 0
        self.received: list[tuple[str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                ok = _auth.verify(
                    outer.token, self.headers.get("Authorization"), b"", None, None, ""
                )
                with outer.lock:
                    outer.received.append(("GET", b""))
                out = json.dumps(outer.signature).encode() if outer.signature else b""
                if not ok:
                    out = b"wrong token"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.received.append(("POST", body))
                auth = self.headers.get("Authorization")
                ok = _auth.verify(
                    outer.token,
                    auth,
                    body,
                    self.headers.get("Content-Type"),
                    self.headers.get("Date"),
                    self.path,
                )
                with outer.lock:
                    outer.calls += 1
                    n = outer.calls
                    outer.signed += bool(auth and auth.startswith("EAS "))
                if not ok:
                    status, out = 401, b"wrong token"
                elif outer.status_of is not None and outer.status_of(n) != 200:
                    status = outer.status_of(n)
                    out = f"status {status}".encode()
                elif outer.fail_every and n % outer.fail_every == 0:
                    status, out = 503, b"busy"
                else:
                    status, out = 200, body if outer.reply is None else outer.reply
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/predict/echo"

    def __enter__(self) -> EchoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
