"""The ``allspark`` module an EAS ``app.py`` imports (SPEC §6, Python processors).

``class P(allspark.BaseProcessor)`` with ``initialize()`` and ``process(data)``
runs unchanged inside the easlab kernel (see processors/python.py), and
``P().run()`` serves it standalone on ``0.0.0.0:8080`` like the original SDK.

This file imports nothing but the standard library: ``easlab pysdk init`` copies it
into a package's ``ENV`` as that environment's ``allspark`` (easlab/pysdk/env.py),
where easlab itself is not importable.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

DEFAULT_ENDPOINT = "0.0.0.0:8080"


class AnswerError(TypeError):
    """``process()`` returned no ``(data, status_code)``: the app's mistake, whole in
    its message (a traceback would show the SDK's frames only, not the app's)."""


_BODIES = (bytes, bytearray, memoryview, str)


def answer_of(result: Any) -> tuple[bytes, int]:
    """``process()``'s return value as ``(body, http_status)``.

    ``(data, status)``: 0 and 200 are success, other HTTP codes pass through,
    anything else is 400. A bare bytes/str return is taken as a success.
    """
    if isinstance(result, tuple) and len(result) == 2:
        body, status = result
        if body is not None and not isinstance(body, _BODIES):
            raise AnswerError(
                "process() must return (data, status_code) with data bytes or str, e.g. "
                f"`return b'ok', 200`; it returned ({type(body).__name__}, "
                f"{type(status).__name__})"
                + (": the two swapped?" if isinstance(status, _BODIES) else "")
            )
        return as_bytes(body), normalize_status(status)
    if isinstance(result, _BODIES):
        return as_bytes(result), 200
    raise AnswerError(
        f"process() must return (data, status_code), e.g. `return b'ok', 200`; "
        f"it returned {_what_came(result)}"
    )


def _what_came(result: Any) -> str:
    """A wrong answer, named so that its author sees the mistake."""
    if result is None:
        return "None (a missing return statement?)"
    if isinstance(result, tuple):
        return f"a tuple of {len(result)} item(s), not 2"
    return type(result).__name__


def as_bytes(body: Any) -> bytes:
    """A processor's answer body as bytes (str is UTF-8, None is empty)."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if body is None:
        return b""
    raise TypeError(f"a processor must answer bytes or str, got {type(body).__name__}")


def normalize_status(status: Any) -> int:
    """0 and 200 are success; any other HTTP status passes; anything else is 400 (SPEC §6).

    The kernel's worker uses this same function (stdlib-only, so a packaged ENV's
    Python can import it too).
    """
    try:
        code = int(status)
    except (TypeError, ValueError):
        return 400
    if code in (0, 200):
        return 200
    if 100 <= code <= 599:
        return code
    _say_unknown_status(status)
    return 400


_unknown_statuses: set[str] = set()


def _say_unknown_status(status: Any) -> None:
    """Tell the service log once per value why a processor's answer went out as 400:
    the caller sees only the 400 and the processor's own body."""
    key = repr(status)[:40]
    if key in _unknown_statuses or len(_unknown_statuses) > 100:
        return
    _unknown_statuses.add(key)
    sys.stderr.write(
        f"a processor answered status {key}, not 0, 200 or an HTTP status (100-599): "
        "the caller gets 400 with the processor's body; return e.g. (data, 200) or "
        "(message, 500)\n"
    )
    sys.stderr.flush()


class BaseProcessor:
    """Base class of an allspark processor: override ``initialize`` and ``process``.

    ``worker_threads`` requests run concurrently; with ``worker_processes > 1``
    the standalone server forks that many processes, each calling
    ``initialize()``; ``endpoint`` is ``"host:port"`` (default ``0.0.0.0:8080``).
    """

    def __init__(
        self, worker_threads: int = 5, worker_processes: int = 1, endpoint: str | None = None
    ) -> None:
        self.worker_threads = int(worker_threads)
        self.worker_processes = int(worker_processes)
        self.endpoint = endpoint or DEFAULT_ENDPOINT

    def initialize(self) -> None:
        """Load the model; called once per process before any request."""

    def process(self, data: bytes) -> tuple[bytes, int]:
        """Answer one request body with ``(response_bytes, status_code)``."""
        raise NotImplementedError("implement process(self, data) -> (bytes, status)")

    def run(self) -> None:
        """Serve every path on ``endpoint`` until interrupted (like ``python app.py`` on EAS)."""
        _serve_standalone(self)


def _parse_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        host, port = "0.0.0.0", endpoint
    try:
        return host or "0.0.0.0", int(port)
    except ValueError:
        raise ValueError(
            f"endpoint {endpoint!r} is not 'host:port', e.g. endpoint='0.0.0.0:8079'"
        ) from None


def _serve_standalone(processor: BaseProcessor) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    slots = threading.BoundedSemaphore(max(1, processor.worker_threads))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(size) if size else b""
            with slots:
                try:
                    body, status = answer_of(processor.process(data))
                except AnswerError as exc:
                    body, status = f"TypeError: {exc}".encode(), 400
                    print(exc, file=sys.stderr, flush=True)
                except Exception as exc:  # a bad request must not end the server
                    body, status = f"{type(exc).__name__}: {exc}".encode(), 400
                    # the file and line, in the terminal that runs app.py (the EAS log)
                    traceback.print_exc()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # quiet, like EAS
            return

    host, port = _parse_endpoint(processor.endpoint)
    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        # one line, not a socketserver traceback: which port, and the two ways out
        raise SystemExit(
            f"allspark: cannot listen on {host}:{port}: {exc.strerror or exc}. Stop what "
            f"holds port {port} (an earlier `python app.py`? an easlab kernel: `easlab "
            "kernel status`), or pass another port: MyProcessor(worker_threads=10, "
            "endpoint='0.0.0.0:8079')"
        ) from None
    server.daemon_threads = True
    bound = server.server_address[1]
    children: list[int] = []
    if processor.worker_processes > 1:
        for _ in range(processor.worker_processes):
            pid = os.fork()
            if pid == 0:
                processor.initialize()
                try:
                    server.serve_forever()
                finally:
                    os._exit(0)
            children.append(pid)
        print(f"allspark processor listening on http://{host}:{bound}", flush=True)
        try:
            for pid in children:
                os.waitpid(pid, 0)
        except KeyboardInterrupt:
            import signal

            for pid in children:
                os.kill(pid, signal.SIGTERM)
        return
    processor.initialize()
    print(f"allspark processor listening on http://{host}:{bound}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("allspark processor stopped", file=sys.stderr)
    finally:
        server.server_close()
