"""The kernel's HTTP/1.1 server: data plane, built-ins, discovery and control.

One asyncio event loop, ``httptools`` (llhttp, in C) for parsing, keep-alive
and pipelining (answers leave in request order). Prediction bodies go to the
service's instances as they arrived: the token is checked on the bytes, and
nothing is copied or decoded on the way (BENCH-ANCHORS.md).

What a client may hold is bounded by ``HttpLimits`` (limits.py): head sizes are
counted as the bytes arrive, and one sweep a second (not a timer per request)
closes connections that stall or sit idle; a connection whose request is at a
processor is never timed out.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httptools

from easlab._auth import verify
from easlab.kernel.control import API, Kernel, handle
from easlab.kernel.guard import ControlGuard
from easlab.kernel.instance import Call
from easlab.kernel.limits import HttpLimits
from easlab.kernel.processors.http import HTTP_AWARE, HttpRequest

DEFAULT_MAX_BODY = 64 * 1024 * 1024
MAX_PIPELINE = 32
LINGER_S = 2.0
#: how long the kernel waits awake for a lone client's next request after answering
#: it; after two waits in a row that ended without one, it waits only on every
#: _CLIENT_POLL_RETRY-th answer (see HttpConnection._await_next)
CLIENT_POLL_S = 50e-6
_CLIENT_POLL_RETRY = 64
#: requests in a row from one connection after which it counts as the only client at work
_ALONE_AFTER = 8
_READ_SIZE = 65536
# Where a connection is in reading its client's next request (HttpConnection.stage);
# the sweep (KernelServer._sweep) applies the timeout of that stage.
_HEAD = 0  # connected, or a request began: its head is not complete (header_timeout)
_BODY = 1  # the head is complete, the body is not (body_timeout)
_IDLE = 2  # between requests (keepalive_timeout)

_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    450: "Queue Full",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_OCTETS = b"application/octet-stream"
_PREDICT = "/api/predict/"
_BUILTIN = "/api/builtin/"
_DISCOVERY = (
    "/api/v1/servicediscovery/upstreams/",
    "/exported/apis/eas.alibaba-inc.k8s.io/v1/upstreams/",
)


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n".encode()


_STATUS_LINES = {code: _status_line(code) for code in _REASONS}


class Request:
    """One parsed HTTP request."""

    __slots__ = ("method", "path", "query", "headers", "body", "keep_alive", "started")

    def __init__(
        self,
        method: bytes,
        path: str,
        query: str,
        headers: dict[bytes, bytes],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.started = time.monotonic()

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests and writes answers in order."""

    def __init__(self, app: KernelServer) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.current: Request | None = None
        self.pipeline: deque[Request] = deque()
        self.paused = False
        self.fd = -1  # the socket's descriptor, read directly by _await_next
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        # limits (limits.py): the size caps as plain ints for the callbacks below
        limits = app.limits
        self.max_url_size = limits.cap("max_url_size")
        self.max_header_size = limits.cap("max_header_size")
        self.max_headers = limits.cap("max_headers")
        # a read no larger than this cannot by itself hold a head past a size limit
        self._small_read = min(self.max_url_size, self.max_header_size)
        self.stage = _HEAD
        self.requests = 0  # requests begun on this connection
        self._read = 0  # size of the read being parsed
        self._spanning = False  # the current head came in more than one read
        self._partial = 0  # bytes read since the head last grew (a header httptools holds)
        self._fed = (0, 0, 0)  # (requests, header bytes, URL bytes) after the last partial read
        self._mark: tuple[int, int, int] | None = None  # what the last sweep saw ...
        self._since = 0.0  # ... and since when (time.monotonic())

    # -- asyncio -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        app = self.app
        if len(app.connections) >= app.max_connections:
            # Past the cap: a clear answer rather than a silent drop, then close. The
            # lingering close in _fail lets the client send its request and read this.
            self._fail(503, app.limits.too_many_connections())
            return
        app.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.fd = sock.fileno()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        self.app.connections.discard(self)
        self.fd = -1
        self.pipeline.clear()

    def _forget(self) -> None:
        """Mark the connection closed; its unanswered requests stop counting as in flight."""
        if not self.closed:
            self.closed = True
            self.app.in_flight -= (self.current is not None) + len(self.pipeline)

    def _await_next(self, seconds: float) -> None:
        """Wait up to ``seconds`` awake for the client's next request.

        A client at concurrency 1 sends its next request microseconds after our
        answer; reading it here skips the event loop's sleep and wake-up. The event
        loop's reader stays registered (level-triggered), so whatever this leaves
        unread is still read there.
        """
        fd = self.fd
        transport = self.transport
        if (
            fd < 0
            or self.closed
            or self.current is not None
            or transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size()  # the answer must be out first
        ):
            return
        app = self.app
        end = time.perf_counter() + seconds
        read = os.read
        while True:
            try:
                data = read(fd, _READ_SIZE)
            except (BlockingIOError, InterruptedError):
                if time.perf_counter() >= end:
                    app.poll_misses += 1  # the client is slower than the wait
                    return
                os.sched_yield()  # a client sharing this core runs now, not after the wait
                continue
            except OSError:
                return  # the event loop's reader sees the error and closes
            if not data:
                return  # end of stream: left to the event loop, as above
            app.poll_misses = 0
            self.data_received(data)
            return

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._read = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades (websocket) are not served here")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")
        if self.stage == _HEAD:  # rare: a head split across reads
            self._count_partial_head()

    # -- head limits ---------------------------------------------------------------
    # Nothing is counted per header: one read holds at most its own size, so a head
    # that came in one small read (the usual request) cannot be past a size limit.
    # Heads in several reads or in a big one are measured (a dict of at most
    # max_headers entries) after each read and when complete; what httptools still
    # holds of an unfinished header is bounded by the reads that brought no new one.

    def _head_size(self) -> int:
        """Bytes of the current head's header names and values; -1 once it is refused."""
        if len(self._url) > self.max_url_size:
            self._fail(414, self.app.limits.url_too_long(len(self._url)))
            return -1
        if len(self._headers) > self.max_headers:
            self._fail(431, self.app.limits.too_many_headers())
            return -1
        size = sum(len(name) + len(value) for name, value in self._headers.items())
        if size > self.max_header_size:
            self._fail(431, self.app.limits.headers_too_big(size))
            return -1
        return size

    def _count_partial_head(self) -> None:
        """After a read that left a head unfinished: refuse it as soon as it is too big.

        httptools hands a header over only once it is complete; until then it keeps
        the bytes itself. When a read brought no new header (nor URL bytes), all of it
        belongs to that one header, so it counts toward ``max_header_size`` now:
        a 96 MB header is refused after the limit and a read, not buffered.
        """
        if self.closed:
            return
        self._spanning = True
        size = self._head_size()
        if size < 0:
            return
        fed = (self.requests, size, len(self._url))
        if fed != self._fed:
            self._fed, self._partial = fed, 0  # the head grew: what is held began in this read
            return
        self._partial += self._read
        if size + self._partial > self.max_header_size:
            self._fail(431, self.app.limits.headers_too_big(size + self._partial))

    # -- httptools callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self.stage = _HEAD
        self.requests += 1

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.stage = _BODY
        if self.closed:
            return
        if (
            self._read > self._small_read or self._spanning or len(self._headers) > self.max_headers
        ):  # see "head limits" above
            self._spanning = False
            if self._head_size() < 0:
                return
        length = self._headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                self._fail(400, "Content-Length is not a number")
                return
            if size > self.app.max_body:
                self._fail(413, self.app.too_big_message(size))
                return
        if self._headers.get(b"expect", b"").lower() == b"100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.closed:
            return
        self._size += len(body)
        if self._size > self.app.max_body:
            self._fail(413, self.app.too_big_message(self._size))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.stage = _IDLE
        if self.closed:
            return
        chunks = self._body
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        url = self._url
        qpos = url.find(b"?")
        if qpos >= 0:
            raw_path, query = url[:qpos], url[qpos + 1 :].decode("latin-1")
        else:
            raw_path, query = url, ""
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(path)
        request = Request(
            self.parser.get_method(),
            path,
            query,
            self._headers,
            body,
            self.parser.should_keep_alive(),
        )
        app = self.app
        app.in_flight += 1
        app.requests += 1
        if app.last_sender == id(self):
            app.streak += 1
        else:
            app.last_sender, app.streak = id(self), 0
        if self.current is None:
            self.current = request
            self.app.handle(self, request)
        else:
            self.pipeline.append(request)
            if len(self.pipeline) >= MAX_PIPELINE and self.transport and not self.paused:
                self.paused = True
                self.transport.pause_reading()

    # -- answers ---------------------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        """Answer a request that cannot be parsed or read, then close."""
        if self.transport is not None and not self.closed:
            body = message.encode()
            self.transport.write(
                _STATUS_LINES[status]
                + b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(body) + body
            )
            if self.transport.can_write_eof():
                # Lingering close: the client may still be sending the body we refuse;
                # closing now would reset the connection and lose our answer. After
                # LINGER_S it goes, read or not (abort: a client that does not read
                # would otherwise hold it open).
                self.transport.write_eof()
                asyncio.get_running_loop().call_later(LINGER_S, self.transport.abort)
            else:
                self.transport.close()
        self._forget()

    def check_timeouts(self, now: float) -> None:
        """Close the connection if it has waited on its client past the limit of its stage.

        Called by the server's sweep; the wait counts from the first sweep that saw the
        connection where it is now (stage, request, body bytes), so a timeout fires
        within one sweep interval after its value. Nothing here runs per request.
        """
        if self.closed or self.current is not None or self.pipeline:
            self._mark = None  # answered or being answered: not waiting on the client
            return
        mark = (self.stage, self.requests, self._size)
        if mark != self._mark:
            self._mark, self._since = mark, now
            return
        waited = now - self._since
        limits = self.app.limits
        stage = self.stage
        if stage == _IDLE:
            if limits.keepalive_timeout and waited >= limits.keepalive_timeout:
                self._close_quietly()
        elif stage == _HEAD:
            if limits.header_timeout and waited >= limits.header_timeout:
                if self.requests:  # a request began: tell its client why
                    self._fail(408, limits.head_timed_out())
                else:  # connected and sent nothing: no request to answer
                    self._close_quietly()
        elif limits.body_timeout and waited >= limits.body_timeout:
            self._fail(408, limits.body_timed_out())

    def _close_quietly(self) -> None:
        transport = self.transport
        if transport is not None and not self.closed:
            if transport.get_write_buffer_size():
                transport.abort()  # its client reads nothing: a flush would never end
            else:
                transport.close()
        self._forget()

    def respond(
        self,
        status: int,
        body: bytes | bytearray,
        content_type: bytes = _TEXT,
        close: bool = False,
        extra: bytes = b"",
    ) -> None:
        """Answer the current request; then start the next pipelined one."""
        request = self.current
        transport = self.transport
        if request is None or transport is None or self.closed:
            return
        app = self.app
        app.in_flight -= 1
        keep = request.keep_alive and not close
        head = (
            _STATUS_LINES.get(status) or _status_line(status)
        ) + b"Content-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n" % (
            content_type,
            len(body),
            extra,
            b"" if keep else b"Connection: close\r\n",
        )
        if request.method == b"HEAD":
            transport.write(head)
        elif len(body) > 65536:
            transport.write(head)
            # A view: what the socket does not take at once is copied once, not sliced first.
            transport.write(memoryview(body))
        else:
            transport.write(head + body)
        if not keep:
            self.current = None
            transport.close()
            self._forget()
            return
        self.current = None
        if not self.pipeline:
            app.answers += 1
            if (
                app.in_flight == 0
                and app.streak >= _ALONE_AFTER
                and len(body) <= _READ_SIZE  # a big exchange takes longer than the wait
                and (app.poll_misses < 2 or app.answers % _CLIENT_POLL_RETRY == 0)
            ):
                # Nothing else in flight: at the end of this loop pass, wait for this
                # client's next request awake rather than in the event loop's poll (as
                # for an instance's answer, Instance.send). With more clients at work
                # the loop is busy and never waits.
                app.kernel.loop.call_soon(self._await_next, CLIENT_POLL_S)
        else:
            nxt = self.pipeline.popleft()
            if self.paused and len(self.pipeline) < MAX_PIPELINE // 2:
                self.paused = False
                transport.resume_reading()
            self.current = nxt
            self.app.handle(self, nxt)

    def respond_json(self, status: int, obj: Any, close: bool = False) -> None:
        self.respond(status, json.dumps(obj).encode(), _JSON, close)


class KernelServer:
    """Routes parsed requests: predictions, built-ins, discovery and control."""

    def __init__(
        self,
        kernel: Kernel,
        guard: ControlGuard,
        max_body: int = DEFAULT_MAX_BODY,
        limits: HttpLimits | None = None,
    ) -> None:
        self.kernel = kernel
        self.guard = guard
        self.max_body = max_body
        self.limits = limits or HttpLimits()
        self.max_connections = self.limits.cap("max_connections")
        self.connections: set[HttpConnection] = set()  # open and served (not refused)
        self._sweep_s = self.limits.sweep_interval
        if self._sweep_s is not None:
            kernel.loop.call_later(self._sweep_s, self._sweep)
        self.in_flight = 0  # requests parsed and not yet answered, all connections
        self.requests = 0  # requests parsed since start (the idle watch compares it)
        self.last_sender = 0  # id() of the connection the last request came on
        self.streak = 0  # requests in a row before it on that same connection
        self.answers = 0  # keep-alive answers with nothing pipelined behind them
        self.poll_misses = 0  # client waits (CLIENT_POLL_S) in a row without a request

    def _sweep(self) -> None:
        """Close stalled and idle connections (HttpConnection.check_timeouts), then again later.

        One pass over the open connections every ``sweep_interval`` costs less than
        a timer per request on the keep-alive path, and reads no clock per request.
        """
        now = time.monotonic()
        for conn in tuple(self.connections):
            conn.check_timeouts(now)
        assert self._sweep_s is not None
        self.kernel.loop.call_later(self._sweep_s, self._sweep)

    def too_big_message(self, size: int) -> str:
        return (
            f"request body of {size} bytes is above the kernel's limit of {self.max_body} bytes; "
            "send less, or start the kernel with a larger --max-body"
        )

    def handle(self, conn: HttpConnection, req: Request) -> None:
        path = req.path
        try:
            if path.startswith(_PREDICT):
                self.predict(conn, req, path[len(_PREDICT) :])
            elif path.startswith(_BUILTIN):
                self.builtin(conn, req, path[len(_BUILTIN) :])
            elif path.startswith(_DISCOVERY):
                self.discovery(conn, req)
            elif path == API or path.startswith(API + "/"):
                refused = self.guard.refuse(
                    req.method,
                    req.header(b"host"),
                    req.header(b"origin"),
                    req.header(b"content-type"),
                    req.header(b"authorization"),
                    bool(req.body),
                )
                if refused is not None:
                    conn.respond_json(refused[0], {"error": refused[1], "field": None})
                    return
                self.kernel.loop.create_task(self.control(conn, req))
            else:
                conn.respond_json(
                    404,
                    {"error": f"no route {path}; predictions go to /api/predict/<service>"},
                )
        except Exception:  # a kernel fault: answer 500, keep serving
            traceback.print_exc()
            conn.respond(500, b"internal error in the easlab kernel (see its log)", close=True)

    def _not_found(self, name: str) -> bytes:
        known = ", ".join(self.kernel.router.names()) or "none"
        return f"service '{name}' not found (services: {known})".encode()

    def predict(self, conn: HttpConnection, req: Request, name: str) -> None:
        route = self.kernel.router.lookup(name)
        if route is None:
            conn.respond(404, self._not_found(name))
            return
        auth = req.headers.get(b"authorization")
        if auth is None or not verify(
            route.token,
            auth.decode("latin-1"),
            req.body,
            req.header(b"content-type"),
            req.header(b"date"),
            req.path,
        ):
            why = "missing" if auth is None else "wrong"
            conn.respond(
                401,
                f"{why} token for service '{route.name}': send the service token as the "
                "Authorization header, or an EAS signature (client.set_token)".encode(),
            )
            return
        service = route.pick()
        if service is None:
            conn.respond(503, f"service '{route.name}' has no backend with weight > 0".encode())
            return
        if service.current.target in HTTP_AWARE:
            # the component's own REST contract under the service path (processors/http.py)
            self._submit_http(conn, req, service, route.name)
            return
        if req.method == b"GET" and service.current.signature is not None:
            sig = dict(service.current.signature)
            sig.setdefault("format", service.current.request_format or "tf")
            conn.respond_json(200, sig)
            return
        started = req.started
        stats = service.stats

        def answer(status: int, body: bytes | bytearray) -> None:
            stats.record(status, started, time.monotonic())
            if status == 200:
                conn.respond(200, body, _OCTETS)
            else:
                # SPEC §1: 408 and 450 also close the connection.
                conn.respond(status, body, _TEXT, status in (408, 450))

        service.submit(Call(req.body, answer))

    def _submit_http(self, conn: HttpConnection, req: Request, service: Any, entry: str) -> None:
        """Hand an HTTP-aware processor the method, sub-path, query and body."""
        sub_path = req.path[len(_PREDICT) + len(entry) :]
        envelope = HttpRequest(
            req.method.decode("latin-1"),
            sub_path,
            req.query,
            req.header(b"content-type"),
            req.body,
        ).encode()
        started = req.started
        stats = service.stats

        def answer(status: int, body: bytes | bytearray) -> None:
            stats.record(status, started, time.monotonic())
            # the kernel's own refusals (408, 450, 503) are text; the component's are JSON
            kernel_made = status in (408, 450, 503) and bytes(body[:1]) not in (b"{", b"[")
            conn.respond(status, body, _TEXT if kernel_made else _JSON, status in (408, 450))

        service.submit(Call(envelope, answer))

    def builtin(self, conn: HttpConnection, req: Request, what: str) -> None:
        kernel = self.kernel
        if what == "ping":
            conn.respond(200, b"pong")
        elif what in ("monitor", "realtime_metrics"):
            conn.respond_json(
                200, {name: svc.stats.to_dict() for name, svc in kernel.services.items()}
            )
        elif what in ("prop", "eastool"):
            # unauthenticated, as on EAS: what a health check needs, not where files live
            full = kernel.info()
            info: dict[str, Any] = {
                k: full[k] for k in ("pid", "endpoint", "version", "started_at")
            }
            info["services"] = {
                name: {"status": svc.status, "instances": len(svc.instances)}
                for name, svc in kernel.services.items()
            }
            conn.respond_json(200, info)
        elif what in ("call", "tell", "term"):
            conn.respond_json(
                400,
                {
                    "error": f"/api/builtin/{what} drives EAS's internal runtime and has no "
                    "meaning in the local kernel; use /api/predict/<service> and the "
                    "/easlab/v1 control API"
                },
            )
        else:
            conn.respond_json(404, {"error": f"unknown built-in endpoint /api/builtin/{what}"})

    def discovery(self, conn: HttpConnection, req: Request) -> None:
        prefix = next(p for p in _DISCOVERY if req.path.startswith(p))
        name = req.path[len(prefix) :].split("/", 1)[0]
        route = self.kernel.router.lookup(name)
        if route is None:
            conn.respond(404, self._not_found(name))
            return
        ip = self.kernel.host_for_clients()
        if conn.transport is not None:
            sock = conn.transport.get_extra_info("sockname")
            if sock and sock[0] not in ("0.0.0.0", "::"):
                ip = sock[0]
        conn.respond_json(
            200,
            {
                "correlative": [route.name],
                "endpoints": {
                    "items": [
                        {"app": route.name, "ip": ip, "port": self.kernel.port, "weight": 100}
                    ]
                },
            },
        )

    async def control(self, conn: HttpConnection, req: Request) -> None:
        try:
            status, obj = await handle(
                self.kernel, req.method.decode(), req.path, req.query, req.body
            )
        except Exception as exc:
            traceback.print_exc()
            status, obj = (
                500,
                {"error": f"kernel fault: {type(exc).__name__}: {exc}", "field": None},
            )
        conn.respond_json(status, obj)


def reuse_freed_memory() -> None:
    """Have glibc keep freed blocks for reuse instead of giving them back to the system.

    By default a block above 128 KB is mapped fresh and unmapped when freed, so
    every 600 KB body costs ~150 page faults per buffer (measured: 270 faults and
    ~400 us of system time per request, more than the copies themselves). Blocks
    up to 32 MB now come from the heap, which keeps up to 256 MB of free space.
    Other C libraries have no ``mallopt``; there this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum on 64-bit systems
    mallopt(m_trim_threshold, 256 * 1024 * 1024)


def allow_open_files(connections: int) -> None:
    """Raise the soft open-file limit (up to the hard one) so ``connections`` fit in it.

    Past the soft limit accept() fails and a client gets no answer at all, not the
    503 that max_connections promises; Go raises this limit at start for the same
    reason. Room is kept for the instances' sockets, logs and models.
    """
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft == resource.RLIM_INFINITY or (soft >= want) or connections == 0:
        return
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (OSError, ValueError):
            pass


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class KernelConfigError(Exception):
    """The kernel cannot start with these settings (message says which and how to fix)."""


def admin_token_setting(host: str, admin_token: str | None) -> str:
    """The admin token to use: given, else ``$EASLAB_ADMIN_TOKEN``, else a new one.

    A kernel reachable from other machines must not invent one (nobody else
    could know it, and a weak one would be worse): it refuses to start.
    """
    from easlab.kernel.guard import is_loopback, new_admin_token
    from easlab.kernel.runtime import ADMIN_TOKEN_ENV

    token = (admin_token or os.environ.get(ADMIN_TOKEN_ENV, "")).strip()
    if token:
        if len(token) < 16:
            raise KernelConfigError(
                "the admin token is too short (under 16 characters); use e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return token
    if not is_loopback(host):
        raise KernelConfigError(
            f"--host {host} makes the control API reachable from other machines; give it an "
            f"explicit admin token: set {ADMIN_TOKEN_ENV} (or --admin-token) to a long random "
            "string, and give the same to clients (README: How the kernel is protected)"
        )
    return new_admin_token()


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    state_dir: str | Path | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    ready: Any = None,
    *,
    admin_token: str | None = None,
    allow_hosts: tuple[str, ...] = (),
    allow_origins: tuple[str, ...] = (),
    limits: HttpLimits | None = None,
    idle_timeout: float = 0.0,
) -> None:
    """Run the kernel in the current event loop until shutdown is requested.

    ``limits``: the HTTP timeouts and sizes (``HttpLimits``; its defaults when None).
    ``idle_timeout``: stop after that many seconds without services and requests
    (kernel/idle.py; 0 never).
    """
    from easlab.kernel import idle, runtime

    token = admin_token_setting(host, admin_token)
    loop = asyncio.get_running_loop()
    state = Path(state_dir).expanduser() if state_dir else runtime.default_state_dir()
    runtime.private_dir(state)
    kernel = Kernel(state.resolve(), loop)
    kernel.idle_timeout = idle_timeout  # reported by info(): `easlab kernel status`
    guard = ControlGuard(token, host, allow_hosts, allow_origins)
    app = KernelServer(kernel, guard, max_body, limits)
    server = await loop.create_server(
        lambda: HttpConnection(app), host, port, reuse_address=True, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    kernel.host, kernel.port = host, bound
    kernel.endpoint = f"http://{_display_host(host)}:{bound}"
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, kernel.shutdown_requested.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    runtime.write_runtime(
        kernel.endpoint, os.getpid(), kernel.state_dir, kernel.info()["started_at"], token
    )
    from easlab.kernel.guard import mask

    print(f"easlab kernel listening on http://{host}:{bound}", flush=True)
    print(
        f"control API admin token {mask(token)}; clients on this machine read it from "
        f"{runtime.kernel_file(os.getpid())}",
        flush=True,
    )
    if ready is not None:
        ready(kernel)
    watcher = loop.create_task(idle.watch(kernel, app, idle_timeout))
    try:
        await kernel.shutdown_requested.wait()
        watcher.cancel()
    finally:
        server.close()
        await kernel.stop_all()
        runtime.remove_runtime(os.getpid())
        print("easlab kernel stopped", flush=True)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (libuv: fewer system calls per
    request, the loop under the uvicorn floor in BENCH-ANCHORS), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    state_dir: str | Path | None = None,
    max_body: int | None = None,
    *,
    admin_token: str | None = None,
    allow_hosts: tuple[str, ...] = (),
    allow_origins: tuple[str, ...] = (),
    limits: HttpLimits | None = None,
    idle_timeout: float = 0.0,
) -> None:
    """Serve until SIGINT/SIGTERM or ``POST /easlab/v1/shutdown`` (``easlab serve``).

    Prints ``easlab kernel listening on http://HOST:PORT`` once it accepts
    requests; ``port=0`` picks a free port. ``limits``: see ``HttpLimits``.
    """
    limits = limits or HttpLimits()
    reuse_freed_memory()
    allow_open_files(limits.max_connections)
    try:
        # Once serving, what exists lives as long as the kernel process: keep it out of
        # the collector's full passes, whose pauses would show in the latency tail.
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(
                serve(
                    host,
                    port,
                    state_dir,
                    max_body or DEFAULT_MAX_BODY,
                    ready=lambda _: gc.freeze(),
                    admin_token=admin_token,
                    allow_hosts=allow_hosts,
                    allow_origins=allow_origins,
                    limits=limits,
                    idle_timeout=idle_timeout,
                )
            )
        finally:
            loop.close()
    except KeyboardInterrupt:
        pass
    except KernelConfigError as exc:
        print(f"easlab kernel: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"easlab kernel: cannot listen on {host}:{port}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
