"""Helpers shared by the kernel tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

ECHO_APP = """
import allspark

class Echo(allspark.BaseProcessor):
    def initialize(self):
        self.prefix = b""

    def process(self, data):
        return self.prefix + data, 200
"""

#: hangs (an hour) for the body "hang", answers "fine" otherwise
HANG_APP = """
import time
import allspark

class Hang(allspark.BaseProcessor):
    def process(self, data):
        if data == b"hang":
            time.sleep(3600)
        return b"fine", 200
"""


# A python app whose model writes each input to CALLS, then holds it until GATE exists
# (a file the test creates): the queue tests' way to keep records at the model.
GATED_APP = """
import os
import time
import allspark

CALLS = {calls!r}
GATE = {gate!r}


class Gated(allspark.BaseProcessor):
    def initialize(self):
        pass

    def process(self, data):
        with open(CALLS, "a") as f:
            f.write(data.decode() + "\\n")
        while not os.path.exists(GATE):
            time.sleep(0.01)
        return data, 200
"""


def app_spec(name: str, folder: Any, **metadata: Any) -> dict[str, Any]:
    """A python-processor service.json for the app.py in ``folder``; ``metadata`` as
    keyword arguments (``rpc__keepalive=600`` for ``rpc.keepalive``), one instance
    unless they say otherwise."""
    meta: dict[str, Any] = {"instance": 1}
    meta.update({k.replace("__", "."): v for k, v in metadata.items()})
    return {
        "name": name,
        "processor_type": "python",
        "processor_path": str(folder),
        "processor_entry": "app.py",
        "metadata": meta,
    }


def post(url: str, body: bytes = b"", token: str | None = None, **kw: Any) -> requests.Response:
    headers = dict(kw.pop("headers", {}))
    if token:
        headers["Authorization"] = token
    return requests.post(url, data=body, headers=headers, timeout=kw.pop("timeout", 30), **kw)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (no sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class PutAnswerLost:
    """An HTTP proxy in front of the kernel that forwards every call, but loses the
    answer to the first put once the kernel has stored it and ``settled()`` says it is
    through: it answers 502 instead (a gateway that lost the answer; the official
    client retries any non-2xx), or with ``drop=True`` closes the connection without
    a word (a connection that broke on the way back)."""

    def __init__(
        self, endpoint: str, settled: Callable[[], bool] = lambda: True, drop: bool = False
    ) -> None:
        self.endpoint = endpoint
        self.settled = settled
        self.first: requests.Response | None = None
        self.puts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                resp = requests.request(
                    self.command, outer.endpoint + self.path, data=body, headers=headers, timeout=30
                )
                status, data, extra = resp.status_code, resp.content, dict(resp.headers)
                if self.command == "POST":
                    outer.puts += 1
                    if outer.first is None:
                        outer.first = resp
                        wait_for(outer.settled, 60, "the first put through")
                        if drop:
                            self.close_connection = True
                            return
                        status, data, extra = 502, b"answer lost on the way", {}
                self.send_response(status)
                for name in ("Content-Type", "X-Eas-Queueservice-Request-Id"):
                    if name in extra:
                        self.send_header(name, extra[name])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PutAnswerLost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class HeldModelServer:
    """A model file (``b"model"``) over HTTP on 127.0.0.1 whose download can be held:
    while ``hold`` is set, each GET sets ``asked`` and waits for ``go``. A test uses it
    to catch the kernel in the middle of building a service. Held from the start unless
    ``held=False``; leaving the ``with`` block lets every GET go and stops the server."""

    def __init__(self, held: bool = True) -> None:
        self.hold = threading.Event()
        self.go = threading.Event()
        self.asked = threading.Event()
        if held:
            self.hold.set()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if owner.hold.is_set():
                    owner.asked.set()
                    owner.go.wait(120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "5")
                    self.end_headers()
                    self.wfile.write(b"model")
                except OSError:
                    pass  # the kernel that asked was stopped meanwhile

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/model.bin"

    def __enter__(self) -> HeldModelServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.go.set()
        self._server.shutdown()
        self._server.server_close()
