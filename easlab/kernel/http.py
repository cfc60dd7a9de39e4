"""HTTP/1.1 connections: parsing, keep-alive, pipelining, limits, answers in order.

One asyncio ``Protocol`` per client over ``httptools`` (llhttp, in C). What a
client may hold is bounded by ``HttpLimits`` (limits.py): head sizes are
counted as the bytes arrive, and one sweep a second (``KernelServer._sweep``,
not a timer per request) closes connections that stall or sit idle; a
connection whose request is at a processor is never timed out. What a request
means is routes.py's business; this module only reads requests and writes
answers.

What a client without a token can make the kernel hold is bounded three ways:
a request its head already refuses (routes.py ``KernelServer.refusal``: an
unknown service, a missing or wrong plain token, a control call without the
admin token) is answered before its body is read, and the body is never kept;
the bodies held at once, all connections together, are capped
(``HttpLimits.max_body_buffer``), and those that alone can tell whether their
caller has the token (an EAS signature without Content-MD5:
``KernelServer.caller_unknown``) to a quarter of that while they arrive, so that
false signatures cannot fill the buffer for everyone; and a body must keep coming at
``HttpLimits.min_body_rate``. A closed connection lets go of its buffers at
once: the parser, which holds the connection's bound methods (a reference
cycle), goes with it, so nothing waits for the cyclic collector.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httptools

from easlab.kernel import awake
from easlab.kernel.limits import ADMIN_RESERVE

if TYPE_CHECKING:
    from easlab.kernel.routes import KernelServer

DEFAULT_MAX_BODY = 64 * 1024 * 1024
MAX_PIPELINE = 32
LINGER_S = 2.0
#: a refused request's body up to this size is read and dropped, so that the
#: connection stays open for the client's next request; a larger one (or a chunked
#: one, of unknown size) is not read: the answer closes the connection. Go's
#: net/http draws the same line (maxPostHandlerReadBytes, 256 KiB).
DRAIN_MAX = 256 * 1024
#: how long the kernel waits awake for a lone client's next request after answering
#: it; after two waits in a row that ended without one, it waits only now and then
#: (awake.py; see HttpConnection._await_next)
CLIENT_POLL_S = 50e-6
_READ_SIZE = 65536
# Where a connection is in reading its client's next request (HttpConnection.stage);
# the sweep (KernelServer._sweep) applies the timeout of that stage.
_HEAD = 0  # connected, or a request began: its head is not complete (header_timeout)
_BODY = 1  # the head is complete, the body is not (body_timeout)
_IDLE = 2  # between requests (keepalive_timeout)
_WRITE = 3  # its answers wait for the client to read them (pause_writing; body_timeout)

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
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    450: "Queue Full",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
TEXT_PLAIN = b"text/plain; charset=utf-8"
APPLICATION_JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"
KEEP_ALIVE_LINE = b"Connection: keep-alive\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

#: an answer made without the app: (status, body, content type, extra header lines,
#: each ending in CRLF: b"" for most, a seldon service's CORS headers on its 401)
Answer = tuple[int, bytes, bytes, bytes]
#: how the app refuses a request from its head (KernelServer.refusal): the answer,
#: given whether the body turned out to be non-empty (known only at the end of a
#: chunked one)
Refusal = Callable[[bool], Answer]


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n".encode()


_STATUS_LINES = {code: _status_line(code) for code in _REASONS}


class Request:
    """One parsed HTTP request."""

    __slots__ = (
        "method",
        "path",
        "query",
        "headers",
        "body",
        "keep_alive",
        "keep_alive_line",
        "started",
        "refusal",
    )

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
        #: what a kept connection's answer says of it: an HTTP/1.0 client that asked for
        #: keep-alive is told it is kept (else it waits for the close that ends a 1.0 answer)
        self.keep_alive_line = b""
        self.started = time.monotonic()
        #: the answer when its head already refused it (its body was dropped): given
        #: in its turn, behind the requests before it
        self.refusal: Answer | None = None

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None


def _nothing() -> None:
    pass


_TOKEN = re.compile(rb"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_METHODS = (b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH")


def _unknown_method(data: bytes) -> str | None:
    """The answer to a request line whose method llhttp does not know (RFC 9110 9.1: 501);
    None when the read does not begin with that word (not HTTP, or a read that begins
    with requests before the failed one): 400 as for any other malformed request."""
    word = data.lstrip(b"\r\n").split(b" ", 1)[0][:40]
    if word in _METHODS or not _TOKEN.fullmatch(word):
        return None
    return (
        f"HTTP method {word.decode('latin-1')!r} not recognised: methods are case-sensitive upper-case words; "
        "predictions are POST (GET for a service's signature)"
    )


#: Header fields the kernel reads to route a request, authenticate its caller or check
#: its signature (routes.py, guard.py). Each holds one value (RFC 9110), and a request
#: that repeats one is refused rather than read as its last line: with two Host or two
#: Authorization lines, whatever stands before the kernel (a proxy, a log) may read the
#: other one (RFC 9112 3.2: two Host lines are a 400). Content-Length is llhttp's:
#: it refuses a second one itself (_PARSE_ERRORS).
_ONCE = {
    b"host": "Host",
    b"authorization": "Authorization",
    b"content-type": "Content-Type",
    b"content-md5": "Content-MD5",
    b"date": "Date",
    b"origin": "Origin",
}


def _repeated(name: str) -> str:
    return (
        f"the {name} header came more than once: send it once (a request with two "
        f"{name} lines can be read two ways, so the kernel refuses it; RFC 9110 5.3)"
    )


_NO_HOST = (
    "the request has no Host header: HTTP/1.1 requires one (RFC 9112 3.2); send the "
    "kernel's address as it, e.g. 'Host: 127.0.0.1:8080' (HTTP clients add it themselves)"
)


def _coding_not_supported(coding: bytes) -> str:
    return (
        f"Transfer-Encoding {coding.decode('latin-1')!r} is not supported: send the body as "
        "it is, with a Content-Length or with Transfer-Encoding: chunked alone"
    )


#: llhttp's errors (the start of their text) that a client can fix, and what to tell it;
#: any other is answered "malformed HTTP request: <llhttp's words>" and what a request must
#: look like (data_received)
_PARSE_ERRORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        # RFC 9112 6.3 lets a server take two equal Content-Lengths as one (a list of
        # equal values), as a proxy may have doubled the line, or refuse them; llhttp,
        # which frames the body, refuses them before the kernel sees the second one, and
        # so does the kernel: no proxy that doubles lines stands before it, and one rule
        # for every repeated framing header leaves no two readings of where a body ends.
        ("Duplicate Content-Length",),
        "the Content-Length header came more than once: send it once (two Content-Length "
        "lines leave the body's length ambiguous even when they agree; RFC 9112 6.3)",
    ),
    (
        (
            "Transfer-Encoding can't be present with Content-Length",
            "Content-Length can't be present with Transfer-Encoding",
        ),
        "the request has both Content-Length and Transfer-Encoding, which leave the body's "
        "length ambiguous (RFC 9112 6.1; a request-smuggling vector): send one of them, "
        "Content-Length for a body of known size or Transfer-Encoding: chunked alone",
    ),
    (
        (
            "Invalid `Transfer-Encoding` header value",
            "Empty Transfer-Encoding",
            "Request has invalid `Transfer-Encoding`",
        ),
        "Transfer-Encoding must name chunked once, and last (RFC 9112 6.1): send "
        "Transfer-Encoding: chunked alone, or the body with a Content-Length",
    ),
    (
        ("Invalid character in Content-Length", "Empty Content-Length", "Content-Length overflow"),
        "Content-Length must be one number of bytes in decimal digits, sent once "
        "(Content-Length: 42)",
    ),
    (
        ("Unexpected whitespace after header value", "Unexpected space after start line"),
        "a header line begins with a space or a tab: a header folded over several lines "
        "(obs-fold) is not accepted (RFC 9112 5.2): put each header on one line",
    ),
    (
        ("Invalid header token", "Invalid header field char"),
        "a header name holds a character names cannot have, such as a space before its colon "
        "(RFC 9112 5.1): write each header as 'Name: value', the name in letters, digits and '-'",
    ),
    (
        ("Invalid header value char",),
        "a header value holds a control character (NUL, or a CR or LF alone): values are "
        "visible characters, spaces and tabs (RFC 9110 5.5)",
    ),
    (  # before the next: "Missing expected CR after chunk data" is a chunk's
        (
            "Invalid character in chunk",
            "Invalid quoted-pair in chunk",
            "Missing expected CR after chunk",
            "Expected LF after chunk",
        ),
        "malformed chunked body: each chunk is its size in hex digits, CRLF, that many bytes "
        "and CRLF, and the last is 0, CRLF, CRLF (RFC 9112 7.1)",
    ),
    (
        ("Missing expected CR", "Missing expected LF", "Expected CRLF", "Expected LF"),
        "a line of the request head does not end where it should: end the request line right "
        "after HTTP/1.1, and every line with CRLF (\\r\\n), not a bare LF or CR (RFC 9112 2.2)",
    ),
    (
        (
            "Invalid characters in url",
            "Invalid char in url",
            "Unexpected start char in url",
            "Unexpected char in url",
        ),
        "the request target holds a character it cannot: percent-encode spaces, control "
        "characters and bytes above 127 (%20 for a space; RFC 3986 2.1)",
    ),
    (
        (
            "Expected HTTP/",
            "Expected dot",
            "Invalid major version",
            "Invalid minor version",
            "Expected space after",
        ),
        "the request line is not METHOD, a space, the target, a space and HTTP/1.1: a space "
        "in the target (percent-encode it as %20), or a version other than HTTP/1.1",
    ),
)


def _only_http_1_1(what: str, how: str) -> str:
    """The 505's words, for HTTP/2's preface and for any other version in a request line."""
    return f"this kernel speaks HTTP/1.1 only; {what} is not served: send HTTP/1.1 requests{how}"


_HTTP_2_PREFACE = _only_http_1_1(
    "HTTP/2 (prior knowledge, gRPC)", " (curl without --http2-prior-knowledge)"
)


def _version_not_served(version: str) -> str:
    return _only_http_1_1(f"HTTP/{version}", " (a request line ending in HTTP/1.1)")


class _Unread(Exception):
    """Raised in a parser callback: nothing more is read of this connection (_fail_in_turn)."""


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests and writes answers in order."""

    def __init__(self, app: KernelServer) -> None:
        self.app = app
        self.transport: asyncio.Transport | None = None
        # None once the connection is lost: the parser holds this object's bound
        # methods, so keeping it would make a cycle that only the collector frees
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.closed = False
        self.upgraded = False  # handed over to another protocol (detach)
        self._closing_calls: list[Callable[[], None]] = []  # on_close
        # refused when it connected (past max_connections): its request's head read so
        # far, then None once it is in; the body bytes still to come (_drop_refused)
        self._refused_head: bytearray | None = None
        self._refused_left = -1
        self.current: Request | None = None
        self.pipeline: deque[Request] = deque()
        self.paused = False  # reading paused: the pipeline is full
        # asyncio's high-water mark: the client reads its answers slower than they come;
        # reading and the pipeline wait (pause_writing)
        self.write_paused = False
        self.fd = -1  # the socket's descriptor, read directly by _await_next
        self._url = b""
        self._path = ""
        self._query = ""
        self._headers: dict[bytes, bytes] = {}
        self._head_fields: dict[bytes, bytes] = {}  # the head's, while a chunk is read
        self._body: list[bytes] = []
        self._size = 0
        self._keep_body = True  # False: a refused request's body, counted and dropped
        self._answered = False  # the current request was answered from its head
        self._refusal: Refusal | None = None  # its head refused it: answer in its turn
        self._held = 0  # bytes of bodies this connection holds (KernelServer.body_bytes)
        self._unchecked = False  # the body coming is one only it can authenticate ...
        self._unchecked_held = 0  # ... and has this much in (KernelServer.unchecked_bytes)
        self._keep_alive = True  # the request's head keeps the connection (llhttp)
        self._version = "1.1"  # its version, when not plain 1.1 (on_headers_complete)
        self._continue_for = 0  # the request owed 100 Continue after the answers before it
        self._reread: bytes | None = None  # an Upgrade request's head, to read again
        self.in_reserve = False  # admitted past max_connections (limits.ADMIN_RESERVE) ...
        self.admin = False  # ... and has shown the admin token
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
        self._framing = 0  # bytes read since the body last grew (chunk framing, trailers)
        self._body_fed = (0, 0)  # (requests, body bytes) after the last partial read of a body
        self._mark: tuple[int, int, int] | None = None  # what the last sweep saw ...
        self._since = 0.0  # ... and since when (time.monotonic())
        # (request, time, body bytes) when a sweep first saw the current body: its rate
        self._body_mark: tuple[int, float, int] | None = None

    # -- asyncio -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        app = self.app
        if len(app.connections) + len(app.upgraded) - len(app.reserve) >= app.max_connections:
            if not self._take_reserve():
                # Past the cap: a clear answer rather than a silent drop, then close. The
                # lingering close in _fail lets the client send its request and read this;
                # once that request is in, the file goes (_drop_refused), not LINGER_S later
                self._refused_head = bytearray()
                self._fail(503, app.connections_full())
                return
        app.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.fd = sock.fileno()

    def _take_reserve(self) -> bool:
        """Past max_connections: take one of the connections kept for the owner.

        It is served only for a request with the admin token (on_headers_complete).
        When all are taken, the oldest that has not shown the token yet makes room
        (answered the 503 it would get anyway), so connections that never send a
        head cannot keep the owner out for a whole header_timeout.
        """
        app = self.app
        reserve = app.reserve
        if len(reserve) >= ADMIN_RESERVE:
            victim = next((conn for conn in reserve if not conn.admin), None)
            if victim is None:
                return False
            victim._fail(503, app.connections_full())
            del reserve[victim]
            app.connections.discard(victim)
        reserve[self] = None
        self.in_reserve = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        app = self.app
        app.connections.discard(self)
        app.reserve.pop(self, None)
        self.fd = -1
        # Let go of everything a request held, and of the parser: it holds this
        # object's bound methods, a cycle that would keep all of it until a full
        # collection (which a frozen, long-lived kernel may not run for a long time).
        self.current = None
        self._headers = self._head_fields = {}
        self._url = b""
        self.parser = None

    def pause_writing(self) -> None:
        """The client does not read its answers as fast as they come: take no more work.

        Without this a client that pipelines requests for large answers and reads
        none made the kernel buffer every answer (an 8 MB answer times as many
        requests as it sent, until the kernel ran out of memory). Now reading and
        the pipeline wait until the client has read what is written
        (resume_writing); one answer at most is buffered past the high-water mark,
        and a client that reads nothing for body_timeout is closed (check_timeouts).
        """
        self.write_paused = True
        if self.transport is not None and not self.paused:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        transport = self.transport
        if transport is None or self.closed:
            return
        if not self.paused:
            transport.resume_reading()
        if self.current is None and self.pipeline:
            self._next_in_line()

    def detach(self) -> asyncio.Transport | None:
        """Hand the connection over to another protocol (a websocket) after its current request.

        The request counts as answered; the sweep no longer sees the connection.
        """
        transport = self.transport
        if transport is None or self.closed or self.pipeline:
            return None
        self._forget()
        self.upgraded = True
        self.current = None
        self.app.connections.discard(self)
        # the new protocol counts itself (KernelServer.upgraded); a place kept for the
        # owner is given back with the HTTP connection
        self.app.reserve.pop(self, None)
        return transport

    def on_close(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once, when the connection closes (at once if it has);
        returns what unregisters it (a request that ended without needing it).

        A request that waits for something else (a queue's long poll) learns at
        once that its client left, instead of looking again now and then.
        """
        if self.closed:
            callback()
            return _nothing
        calls = self._closing_calls
        calls.append(callback)

        def unregister() -> None:
            if callback in calls:
                calls.remove(callback)

        return unregister

    def _forget(self) -> None:
        """Mark the connection closed; its unanswered requests stop counting as in flight.

        The bodies it holds are dropped at once (not when the lingering close ends)
        and no longer count toward max_body_buffer. A request already at a processor
        keeps its body there until it is answered.
        """
        if not self.closed:
            self.closed = True
            app = self.app
            app.in_flight -= (self.current is not None) + len(self.pipeline)
            app.body_bytes -= self._held
            app.unchecked_bytes -= self._unchecked_held
            self._held = self._unchecked_held = 0
            self._body = []
            self.pipeline.clear()
            calls, self._closing_calls = self._closing_calls, []
            for call in calls:
                call()

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

    def _drop_refused(self, data: bytes) -> None:
        """Read and drop the request of a connection refused when it connected; close it
        as soon as the whole request is in (its head, and the body its Content-Length
        announces). Closing with nothing unread sends no reset, so the 503 already sent
        stays readable; the lingering close held the file LINGER_S (2 s) for a client
        that does not close its end. A chunked body, or a head past max_header_size, is
        left to the lingering close."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._refused_left < 0:
            head = self._refused_head
            if head is None:
                return
            head += data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                if len(head) > self.max_header_size:
                    self._refused_head = None  # not worth reading: the linger ends it
                return
            length = 0
            for line in bytes(head[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"transfer-encoding":
                    self._refused_head = None  # a body of unknown size: the linger ends it
                    return
                if name == b"content-length":
                    try:
                        length = int(value.strip())
                    except ValueError:
                        self._refused_head = None
                        return
            self._refused_left = length - (len(head) - end - 4)
            self._refused_head = None
        else:
            self._refused_left -= len(data)
        if self._refused_left <= 0:
            transport.close()  # the 503 and our FIN are sent: nothing of the client unread

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if self.closed or parser is None:
            if self._refused_head is not None or self._refused_left > 0:
                self._drop_refused(data)
            return
        self._read = len(data)
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self.upgraded:
                return  # the connection now speaks websocket (detach)
            # RFC 9110 7.8: a server may ignore an Upgrade (h2c from curl --http2, a
            # websocket to a route that is none): the request is answered in HTTP/1.1, and
            # what follows it is read as HTTP/1.1. Its answer was followed by an unasked-for
            # 400 "protocol upgrades (websocket) are not served here", which the client
            # read as the answer to its next request.
            rest = data[exc.args[0] :]
            head, self._reread = self._reread, None
            if head is not None:  # its body is still to read: its head goes again first
                self.parser = httptools.HttpRequestParser(self)
                rest = head + rest
            if rest:
                self.data_received(rest)
            return
        except httptools.HttpParserError as exc:
            if self.parser is None or self.closed:
                # _Unread: a callback refused the request (and answered it, or will in its
                # turn behind unanswered ones: _fail_in_turn)
                return
            error = str(exc)
            if (self.current is not None or self.pipeline) and error.startswith(
                "Data after `Connection: close`"
            ):
                # RFC 9112 9.6: nothing after a request with "Connection: close" is read;
                # its answer (which closes) still goes out. The 400 took its place while
                # its model ran (a client that sent more body than its Content-Length).
                # What comes is read and dropped (data_received), not left unread: closing
                # with unread bytes would reset the connection and lose that answer.
                self.parser = None
                return
            if error.startswith("Pause on PRI"):
                # HTTP/2's connection preface (an h2c client with prior knowledge, gRPC)
                self._fail(505, _HTTP_2_PREFACE)
                return
            version = parser.get_http_version()
            if error.startswith("Invalid HTTP version") or (
                error.startswith("Expected dot") and version[0] not in "01"
            ):
                # "HTTP/3.0", "HTTP/1.2", "HTTP/3" (read as 3.0): digits, but a version
                # llhttp does not know (it knows 0.9, 1.0, 1.1 and 2.0; RFC 9110 6.2 would
                # serve 1.2 as 1.1, which llhttp cannot); was 400 "malformed HTTP request"
                self._fail(505, _version_not_served(version))
                return
            for starts, message in _PARSE_ERRORS:
                if error.startswith(starts):
                    self._fail(400, message)
                    return
            unknown = _unknown_method(data) if error.startswith("Invalid method") else None
            if unknown is not None:
                self._fail(501, unknown)
                return
            self._fail(
                400,
                f"malformed HTTP request: {error}; send HTTP/1.1: a request line "
                "(METHOD /path HTTP/1.1) and 'Name: value' headers, each line ending in CRLF, "
                "then an empty line (RFC 9112)",
            )
        if self.stage == _HEAD:  # rare: a head split across reads
            self._count_partial_head()
        elif self.stage == _BODY:  # a body split across reads
            self._count_partial_body()

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

    def _count_partial_body(self) -> None:
        """After a read that left a body unfinished: refuse a chunked body's framing past the limit.

        A read that brought no body bytes holds chunk framing: a chunk's size line (its
        extensions unbounded) or the trailer fields after the last chunk. httptools keeps
        an unfinished trailer itself, and copies it at every read, so these bytes count
        toward ``max_header_size`` as a head's unfinished header does
        (_count_partial_head): a 100 MB trailer held 166 MB and stalled every other
        client for seconds at a time, until body_timeout. A body with Content-Length
        grows at every read and never counts.
        """
        if self.closed:
            return
        fed = (self.requests, self._size)
        if fed != self._body_fed:
            self._body_fed, self._framing = fed, 0  # the body grew: what is held began here
            return
        self._framing += self._read
        if self._framing > self.max_header_size:
            self._fail(431, self.app.limits.trailers_too_big(self._framing))

    # -- httptools callbacks --------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.parser is None:  # a request before this one failed (_fail_in_turn)
            raise _Unread
        self._url = b""
        self._headers = {}
        self._body = []
        self._size = 0
        self._keep_body = True
        self._answered = False
        self._refusal = None
        self._unchecked = False
        self.stage = _HEAD
        self.requests += 1

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        headers = self._headers
        if key in headers:  # rare: a name the head has already
            self._header_again(key, value)
        else:
            headers[key] = value

    def _header_again(self, key: bytes, value: bytes) -> None:
        """A header name seen before in the same head (on_header's rare path)."""
        if self.stage != _HEAD:
            return  # a trailer field, twice: dropped as all are (on_chunk_header)
        name = _ONCE.get(key)
        if name is not None:
            self._fail(400, _repeated(name))
            raise _Unread
        headers = self._headers
        if key == b"transfer-encoding":
            # "gzip" then "chunked" on two lines is "gzip, chunked" (RFC 9110 5.3), not
            # supported (on_headers_complete); the last line alone passed for chunked, and
            # the still-coded bytes reached the model as the body. (llhttp refuses chunked
            # twice, or chunked before another coding, itself.)
            self._fail(501, _coding_not_supported(headers[key] + b", " + value))
            raise _Unread
        # Any other field: its last line stands, as before. The kernel reads none of them
        # as a list (llhttp reads each Connection line itself), and joining the lines would
        # copy the value once per line: quadratic in a head that repeats one name.
        headers[key] = value

    def on_chunk_header(self) -> None:
        # A chunked body's trailer fields come after its last chunk's header, before that
        # chunk's end: read into a dict of their own, then dropped. RFC 9110 6.5.1 lets a
        # recipient discard them, and never merge one into the header section unless its
        # field's definition allows it; the kernel reads none. They were stored with the
        # headers: "Authorization: wrong" after the body took the place of the token the
        # head had shown. Their bytes count as the body's framing (_count_partial_body).
        self._head_fields, self._headers = self._headers, {}

    def on_chunk_complete(self) -> None:
        self._headers = self._head_fields

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
        app = self.app
        headers = self._headers
        parser = self.parser
        if parser is None:  # a request before this one failed (_fail_in_turn)
            return
        keep_alive = self._keep_alive = parser.should_keep_alive()
        if not keep_alive or b"connection" in headers:
            # llhttp keeps a connection by default for HTTP/1.1 alone, so a request of
            # any other version comes here (as does one with a Connection header); a
            # plain 1.1 request never pays for the version's lookup
            version = self._version = parser.get_http_version()
            if version != "1.1" and version != "1.0":
                # "GET / HTTP/2.0" (or 0.9) typed as text: llhttp reads it, and the kernel
                # answered it as 1.1. Not HTTP/2's preface, which is 505 already (data_received)
                self._fail(505, _version_not_served(version))
                return
            if (
                b"upgrade" in headers  # never in the head read again (not CONNECT's either)
                and parser.should_upgrade()
                and (
                    b"transfer-encoding" in headers
                    or headers.get(b"content-length", b"").strip(b" \t0")
                )
            ):
                self._read_again_without_upgrade(version)
                return
        if self.in_reserve and not self.admin:
            # past max_connections, on a connection kept for the owner (_take_reserve)
            auth = headers.get(b"authorization")
            if auth is None or not app.guard.token_ok(auth.decode("latin-1")):
                self._fail(503, app.connections_full())
                return
            self.admin = True
        length = headers.get(b"content-length")
        size = 0
        if length is not None:
            try:
                size = int(length)
            except ValueError:  # llhttp refuses any but digits (_PARSE_ERRORS): a safeguard
                self._fail(400, "Content-Length is not a number: send it in decimal digits")
                return
            if size > app.max_body:
                self._fail(413, app.too_big_message(size))
                return
        self._parse_target()
        if b"host" not in headers and parser.get_http_version() == "1.1":
            # RFC 9112 3.2: an HTTP/1.1 request without Host is a 400, as nginx (in front
            # of EAS's services) answers it; the kernel served it. Every client sends one,
            # so this is a hand-written request, and the check costs one dict lookup.
            self._fail(400, _NO_HOST)
            return
        chunked = b"transfer-encoding" in headers
        if chunked:
            if headers[b"transfer-encoding"].strip().lower() != b"chunked":
                # llhttp frames "gzip, chunked" by its chunks and would hand on the coded
                # bytes as the body; RFC 9112 6.1: a coding the server does not know is 501
                self._fail(501, _coding_not_supported(headers[b"transfer-encoding"]))
                return
            if parser.get_http_version() == "1.0":
                # RFC 9112 6.1: HTTP/1.0 has no chunked bodies, and a Transfer-Encoding in a
                # 1.0 message is faulty framing: one that stands before the kernel and frames
                # it as 1.0 (to the close) would see another request where the chunks end
                self._fail(
                    400,
                    "Transfer-Encoding in an HTTP/1.0 request: HTTP/1.0 has no chunked bodies, "
                    "so where this one ends is ambiguous (RFC 9112 6.1): send HTTP/1.1, or the "
                    "body with a Content-Length",
                )
                return
        # Only a request with a body is screened: one without has nothing to hold, and
        # its answer keeps the connection as before. With both Content-Length and
        # Transfer-Encoding, llhttp refuses the request before its head is complete
        # (_PARSE_ERRORS).
        if (size or chunked) and (length is None or not chunked):
            refusal = app.refusal(parser.get_method(), self._path, headers, bool(size) or None)
            if refusal is not None:
                self._keep_body = False  # never kept: counted for the limits, then dropped
                if size and self.current is None and not self.pipeline:
                    self._answer_head(refusal(True), size, keep_alive)
                    return
                # A chunked body (whether it is empty is known at its end) or one behind
                # unanswered requests (answers go out in order): answered in its turn.
                self._refusal = refusal
            elif size and app.body_bytes + size > app.max_body_buffer:
                self._fail(
                    503, app.limits.body_buffer_full(app.body_bytes, size, app.max_body_buffer)
                )
                return
            elif app.caller_unknown(self._path, headers):
                self._unchecked = True
                if size and app.unchecked_bytes + size > app.max_unchecked:
                    self._fail(
                        503,
                        app.limits.unchecked_bodies_full(
                            app.unchecked_bytes, size, app.max_unchecked
                        ),
                    )
                    return
        if b"expect" in headers:
            self._expect(headers[b"expect"], parser)

    def _read_again_without_upgrade(self, version: str) -> None:
        """An Upgrade request with a body: leave it, to be read again without its Upgrade.

        httptools tells llhttp that a request with an Upgrade has no body (it returns 1
        from on_headers_complete; MagicStack/httptools#124): the request came complete
        at the end of its head, and its body was left as bytes of the new protocol. The
        model got an empty body (``curl --http2 -d DATA`` sends Upgrade: h2c, a Java
        RestClient a chunked one). The kernel serves no upgrade with a body (a websocket
        handshake has none), so the head is written again without Upgrade, and
        data_received has a fresh parser read it, then the body, when llhttp stops.
        """
        self._answered = True  # not handed on (on_message_complete)
        parser = self.parser
        assert parser is not None  # called from on_headers_complete
        lines = [b"%s %s HTTP/%s" % (parser.get_method(), self._url, version.encode())]
        for name, value in self._headers.items():
            if name in (b"upgrade", b"http2-settings"):
                continue
            if name == b"connection":  # its other options (close) stand
                value = b", ".join(
                    option
                    for option in (o.strip() for o in value.split(b","))
                    if option.lower() not in (b"upgrade", b"http2-settings")
                )
                if not value:
                    continue
            lines.append(b"%s: %s" % (name, value))
        self._reread = b"\r\n".join(lines) + b"\r\n\r\n"

    def _expect(self, expect: bytes, parser: httptools.HttpRequestParser) -> None:
        """``Expect: 100-continue``: answer 100 Continue once this request is the next answered.

        Behind pipelined requests not answered yet, the interim answer waits for theirs
        (respond, _continue_in_turn): written at once, it went out before them, and a
        client that reads answers in order took it for the first one's. RFC 9110 10.1.1:
        never to an HTTP/1.0 client, and none needed once the body has begun to come.
        """
        transport = self.transport
        if (
            expect.lower() != b"100-continue"
            or transport is None
            or parser.get_http_version() == "1.0"
        ):
            return
        if self.current is None and not self.pipeline:
            transport.write(_CONTINUE)
        else:
            self._continue_for = self.requests

    def _continue_in_turn(self) -> None:
        """The answers before a request that expects 100 Continue are out: send it now,
        unless its body has begun to come (or it is a request gone by)."""
        transport = self.transport
        if (
            self._continue_for == self.requests
            and self.stage == _BODY
            and not self._size
            and transport is not None
        ):
            transport.write(_CONTINUE)
        self._continue_for = 0

    def _parse_target(self) -> None:
        """The request target as ``self._path`` (percent-decoded) and ``self._query``."""
        url = self._url
        if url[:1] != b"/" and url[:4].lower() == b"http":
            url = self._origin_form(url)
        qpos = url.find(b"?")
        if qpos >= 0:
            raw_path, self._query = url[:qpos], url[qpos + 1 :].decode("latin-1")
        else:
            raw_path, self._query = url, ""
        path = raw_path.decode("latin-1")
        self._path = unquote(path) if "%" in path else path

    def _origin_form(self, url: bytes) -> bytes:
        """``http://host:port/path?query`` (absolute-form) → ``/path?query``.

        RFC 9112 §3.2.2: a server must accept the absolute-form (what a client sends
        through a proxy), and use its host rather than the Host header; the kernel
        answered 404 "no route http://host/api/predict/NAME".
        """
        scheme, sep, rest = url.partition(b"://")
        if not sep or scheme.lower() not in (b"http", b"https"):
            return url  # not absolute-form: routes.py answers 404 naming it
        end = len(rest)
        for mark in (b"/", b"?"):
            found = rest.find(mark)
            if 0 <= found < end:
                end = found
        authority, path = rest[:end], rest[end:]
        if not path.startswith(b"/"):  # http://host or http://host?query
            path = b"/" + path
        self._headers[b"host"] = authority.rpartition(b"@")[2]
        return path

    def _answer_head(self, answer: Answer, size: int, keep_alive: bool) -> None:
        """Answer a request from its head alone, before its ``size`` bytes of body arrive.

        A body up to DRAIN_MAX is then read and dropped, and the connection serves
        the client's next request; a larger one is not read: the answer closes the
        connection. So does any ``Expect`` header: such a client may never send the
        body we would wait for (RFC 9110 §10.1.1).
        """
        self.app.requests += 1  # a request all the same (the idle watch counts them)
        status, body, content_type, extra = answer
        # the client of a HEAD reads no body: one here would begin its next answer
        parser = self.parser
        head = parser is not None and parser.get_method() == b"HEAD"
        if size > DRAIN_MAX or not keep_alive or b"expect" in self._headers:
            self._send(status, body, content_type, close=True, head=head, extra=extra)
            return
        self._answered = True
        self._send(status, body, content_type, close=False, head=head, extra=extra)

    def on_body(self, body: bytes) -> None:
        if self.closed:
            return
        app = self.app
        n = len(body)
        self._size += n
        if self._size > app.max_body:
            self._fail(413, app.too_big_message(self._size))
            return
        if not self._keep_body:
            return  # a refused request's body (on_headers_complete): nothing is kept
        if app.body_bytes + n > app.max_body_buffer:
            held = app.body_bytes - (self._size - n)  # what the others hold
            self._fail(
                503, app.limits.body_buffer_full(held, self._size, app.max_body_buffer, True)
            )
            return
        if self._unchecked:
            if app.unchecked_bytes + n > app.max_unchecked:
                held = app.unchecked_bytes - self._unchecked_held  # what the others hold
                self._fail(
                    503, app.limits.unchecked_bodies_full(held, self._size, app.max_unchecked, True)
                )
                return
            app.unchecked_bytes += n
            self._unchecked_held += n
        app.body_bytes += n
        self._held += n
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.stage = _IDLE
        parser = self.parser
        if self.closed or self._answered or parser is None:
            return
        # in whole, the body is checked in its turn (behind at most MAX_PIPELINE others)
        app = self.app
        app.unchecked_bytes -= self._unchecked_held
        self._unchecked_held = 0
        chunks = self._body
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._body = []  # the pieces go now, not when the next request begins
        request = Request(
            parser.get_method(),
            self._path,
            self._query,
            self._headers,
            body,
            self._keep_alive,
        )
        # a Connection header: on_headers_complete read the version (_version)
        if request.keep_alive and b"connection" in self._headers and self._version == "1.0":
            request.keep_alive_line = KEEP_ALIVE_LINE
        if self._refusal is not None:
            request.refusal = self._refusal(self._size > 0)
        app.in_flight += 1
        app.requests += 1
        if app.last_sender == id(self):
            app.streak += 1
        else:
            app.last_sender, app.streak = id(self), 0
        if self.current is None and not self.write_paused:
            self.current = request
            if request.refusal is None:
                app.handle(self, request)
            else:
                status, body, content_type, extra = request.refusal
                self.respond(status, body, content_type, extra=extra)
        else:
            self.pipeline.append(request)
            if len(self.pipeline) >= MAX_PIPELINE and self.transport and not self.paused:
                self.paused = True
                self.transport.pause_reading()

    # -- answers ---------------------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        """Answer a request that cannot be parsed or read, then close."""
        if (self.current is not None or self.pipeline) and not self.closed:
            self._fail_in_turn(status, message)
            return
        self._send(status, message.encode(), TEXT_PLAIN, close=True)
        self._forget()

    def _fail_in_turn(self, status: int, message: str) -> None:
        """Fail a request behind requests not answered yet: its answer goes in its turn.

        Answers go out in the order of the requests (RFC 9112 9.3.2). The kernel wrote
        the error at once and closed, so the client read it as the answer to an earlier
        request, whose model ran all the same and whose answer was lost. Now nothing
        more is parsed (the rest is read and dropped), what the failed request held is
        let go, and the error closes the connection after the answers before it.
        """
        if self.parser is None:
            return  # failed already
        self.parser = None  # further reads are dropped; on_message_begin stops this one
        app = self.app
        partial = sum(len(piece) for piece in self._body)
        app.body_bytes -= partial
        self._held -= partial
        app.unchecked_bytes -= self._unchecked_held
        self._unchecked_held = 0
        self._body = []
        self._keep_body = False
        failure = Request(b"", "", "", {}, b"", False)
        failure.refusal = (status, message.encode(), TEXT_PLAIN, b"")
        app.in_flight += 1
        self.pipeline.append(failure)

    def _http_1_0(self) -> bool:
        """Whether the request being read is HTTP/1.0."""
        return self.parser is not None and self.parser.get_http_version() == "1.0"

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: bytes,
        close: bool,
        head: bool = False,
        extra: bytes = b"",
    ) -> None:
        """Write an answer the app did not make (a parse error, a refusal from the head);
        ``head``: to a HEAD request, whose answer has no body (its Content-Length stays);
        ``extra``: header lines to add, each ending in CRLF."""
        transport = self.transport
        if transport is None or self.closed:
            return
        transport.write(
            (_STATUS_LINES.get(status) or _status_line(status))
            + b"Content-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n"
            % (
                content_type,
                len(body),
                extra,
                b"Connection: close\r\n"
                if close
                else (KEEP_ALIVE_LINE if self._http_1_0() else b""),
            )
            + (b"" if head else body)
        )
        if not close:
            return
        if transport.can_write_eof():
            # Lingering close: the client may still be sending the body we refuse;
            # closing now would reset the connection and lose our answer. After
            # LINGER_S it goes, read or not (abort: a client that does not read
            # would otherwise hold it open).
            transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER_S, transport.abort)
        else:
            transport.close()
        self._forget()

    def check_timeouts(self, now: float) -> None:
        """Close the connection if it has waited on its client past the limit of its stage.

        Called by the server's sweep; the wait counts from the first sweep that saw the
        connection where it is now (stage, request, body bytes), so a timeout fires
        within one sweep interval after its value. Nothing here runs per request.
        """
        limits = self.app.limits
        transport = self.transport
        if self.write_paused and self.current is None and transport is not None:
            # its answers wait for the client to read them (pause_writing): a client that
            # reads nothing for body_timeout is closed, as nginx's send_timeout does
            stage, size = _WRITE, transport.get_write_buffer_size()
        elif self.closed or self.current is not None or self.pipeline:
            # answered or being answered: not waiting on the client
            self._mark = self._body_mark = None
            return
        else:
            stage, size = self.stage, self._size
        mark = (stage, self.requests, size)
        if mark != self._mark:
            self._mark, self._since = mark, now
            if stage == _BODY and limits.min_body_rate:
                self._check_rate(now)
            return
        waited = now - self._since
        if stage == _IDLE:
            if limits.keepalive_timeout and waited >= limits.keepalive_timeout:
                self._close_quietly()
        elif stage == _WRITE:
            if limits.body_timeout and waited >= limits.body_timeout:
                self._close_quietly()
        elif stage == _HEAD:
            if limits.header_timeout and waited >= limits.header_timeout:
                if self.requests:  # a request began: tell its client why
                    self._fail(408, limits.head_timed_out())
                else:  # connected and sent nothing: no request to answer
                    self._close_quietly()
        elif limits.body_timeout and waited >= limits.body_timeout:
            self._body_failed(limits.body_timed_out())
        elif limits.min_body_rate:
            self._check_rate(now)

    def _check_rate(self, now: float) -> None:
        """Answer 408 and close when a body, past its first body_timeout seconds, is too slow.

        body_timeout alone counts only the gap between two reads, so a byte a second
        would hold the connection for ever. The rate is the body's average since the
        sweep first saw it (at most a sweep after its head), against min_body_rate
        (limits.py says why its value).
        """
        first = self._body_mark
        if first is None or first[0] != self.requests:
            self._body_mark = (self.requests, now, self._size)
            return
        limits = self.app.limits
        seconds = now - first[1]
        received = self._size - first[2]
        if seconds >= limits.body_timeout and received < limits.min_body_rate * seconds:
            self._body_failed(limits.body_too_slow(received, seconds))

    def _body_failed(self, message: str) -> None:
        if self._answered:  # refused from its head and answered already: nothing to add
            self._close_quietly()
        else:
            self._fail(408, message)

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
        content_type: bytes = TEXT_PLAIN,
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
        held = len(request.body)  # its body no longer counts toward max_body_buffer
        app.body_bytes -= held
        self._held -= held
        keep = request.keep_alive and not close
        head = (
            _STATUS_LINES.get(status) or _status_line(status)
        ) + b"Content-Type: %s\r\nContent-Length: %d\r\n%s%s\r\n" % (
            content_type,
            len(body),
            extra,
            request.keep_alive_line if keep else b"Connection: close\r\n",
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
            if self._continue_for:  # rare: the request being read expects 100 Continue
                self._continue_in_turn()
            app.answers += 1
            if (
                app.in_flight == 0
                and app.streak >= awake.ALONE_AFTER
                and len(body) <= _READ_SIZE  # a big exchange takes longer than the wait
                and awake.due(app.poll_misses, app.answers)
            ):
                # Nothing else in flight: at the end of this loop pass, wait for this
                # client's next request awake rather than in the event loop's poll (as
                # for an instance's answer, Instance.send). With more clients at work
                # the loop is busy and never waits.
                app.kernel.loop.call_soon(self._await_next, CLIENT_POLL_S)
        elif not self.write_paused:  # else resume_writing starts the next one
            self._next_in_line()

    def _next_in_line(self) -> None:
        """Start the first pipelined request."""
        transport = self.transport
        assert transport is not None
        nxt = self.pipeline.popleft()
        if self.paused and len(self.pipeline) < MAX_PIPELINE // 2:
            self.paused = False
            if not self.write_paused:
                transport.resume_reading()
        self.current = nxt
        if nxt.refusal is None:
            self.app.handle(self, nxt)
        elif nxt.method:
            status, body, content_type, extra = nxt.refusal
            self.respond(status, body, content_type, extra=extra)
        else:  # the request this connection could not read (_fail_in_turn): the last
            self.current = None
            self.app.in_flight -= 1
            status, body, content_type, extra = nxt.refusal
            self._send(status, body, content_type, close=True, extra=extra)

    def respond_json(self, status: int, obj: Any, close: bool = False) -> None:
        self.respond(status, json.dumps(obj).encode(), APPLICATION_JSON, close)
