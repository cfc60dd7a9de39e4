"""The one HTTP exchange every easlab call makes: a prepared request in, a timed response out.

As in httpx's ``_transports``, the cut is strict: clients keep the policy
(endpoint choice, signing through :class:`~easlab.client.auth.EasAuth`,
retries) and hand a prepared :class:`Request` to a :class:`Transport`, which
sends it once and returns the :class:`Response` whatever its status, with the
time split into send → first byte → body read. ``PredictClient``, ``%%eas
predict``, ``easlab.bench`` and the debug widget all go through it, and a
:class:`MockTransport` replaces the network in unit tests::

    def handler(request: Request) -> Response:
        return Response(200, b"echo:" + request.body)

    client = PredictClient("http://eas.test", "echo", transport=MockTransport(handler))

:class:`HTTPTransport` keeps HTTP/1.1 keep-alive connections (stdlib
``http.client``: the same socket calls urllib3 makes, without its per-call
overhead), at most ``max_connections`` idle ones per host. Like urllib3, it
undoes a gzip or deflate ``Content-Encoding`` (a gateway that compresses), up
to ``max_decoded_bytes`` (:mod:`easlab.client.content_encoding`).
"""

from __future__ import annotations

import functools
import http.client
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from easlab._auth import masked
from easlab.client.content_encoding import (
    DEFAULT_MAX_DECODED_BYTES,
    ContentDecodingError,
    decode_content,
)
from easlab.errors import EaslabError

__all__ = [
    "Headers",
    "Request",
    "Response",
    "Timing",
    "Transport",
    "TransportError",
    "HTTPTransport",
    "MockTransport",
]


class Headers(MutableMapping[str, str]):
    """HTTP headers: case-insensitive lookup, the spelling and order they were set in."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            lower = name.lower()
            if lower in self._items:  # a repeated response header: one comma-joined value
                value = f"{self._items[lower][1]}, {value}"
            self._items[lower] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __delitem__(self, name: str) -> None:
        del self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # a repr ends up in logs and tracebacks: a plain token is shown masked
        # (an ``EAS ...`` signature is good for one body and one minute only)
        shown = dict(self.items())
        for name, value in shown.items():
            if name.lower() == "authorization" and not value.startswith("EAS "):
                shown[name] = masked(value)
        return f"Headers({shown!r})"


#: what urllib3 percent-encodes in a path or query: characters outside RFC 3986's
#: unreserved, sub-delims and ``:@/?``, and ``%`` (kept only where every one is a valid %XX)
_NEEDS_ENCODING = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%")


@functools.lru_cache(maxsize=512)
def _request_target(url: str) -> str:
    """``Request.target`` of ``url``, kept: a client sends to the same few URLs again and
    again, and this runs once per request."""
    if _NEEDS_ENCODING.search(url) is None:  # the usual URL: as it is
        parts = urlsplit(url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    from urllib3.util import parse_url

    return str(parse_url(url).request_uri)


@dataclass
class Request:
    """What goes on the wire: method, full URL, headers (the signature included), body."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def target(self) -> str:
        """The request target of the request line: path and query, percent-encoded
        where the URL holds what a request line cannot (a space, non-ASCII, ``"``):
        the official client's urllib3 encodes them, and ``http.client`` would refuse."""
        return _request_target(self.url)

    @property
    def host(self) -> str:
        """``host[:port]`` as the ``Host`` header carries it."""
        return urlsplit(self.url).netloc


@dataclass(frozen=True)
class Timing:
    """Where the time of one exchange went, in milliseconds.

    ``send_ms``: opening a connection when none was pooled, and writing the request;
    ``first_byte_ms``: request written → status line and headers (network + server);
    ``read_ms``: headers → the whole body read (and decoded, when it came compressed).
    """

    send_ms: float = 0.0
    first_byte_ms: float = 0.0
    read_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.send_ms + self.first_byte_ms + self.read_ms


@dataclass
class Response:
    """The answer to one request, whatever its status, with its timing.

    ``body`` is decoded (an ``HTTPTransport`` undoes gzip and deflate, as urllib3
    does); ``headers`` are as received, ``Content-Encoding`` included.
    ``request`` is the request as sent (a transport fills it in).
    """

    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=Headers)
    reason: str = ""
    timing: Timing = field(default_factory=Timing)
    request: Request | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def data(self) -> bytes:
        """The body (urllib3's name for it)."""
        return self.body


class TransportError(EaslabError):
    """No HTTP answer came back: the connection was refused or dropped, or it timed out.

    ``request`` is the request as it was being sent; ``elapsed_ms`` how long the
    attempt took; ``timeout`` tells a timeout from a refused or dropped
    connection; ``retryable`` is False when another attempt cannot help (a URL
    that is not http(s)).
    """

    def __init__(
        self,
        request: Request,
        cause: BaseException | str,
        elapsed_ms: float = 0.0,
        *,
        timeout: bool = False,
        retryable: bool = True,
    ) -> None:
        self.request = request
        self.cause = cause
        self.elapsed_ms = elapsed_ms
        self.timeout = timeout
        self.retryable = retryable
        #: the innermost reason, e.g. ``[Errno 111] Connection refused``
        self.reason = str(cause) or type(cause).__name__
        text = self.reason if isinstance(cause, str) else f"{type(cause).__name__}: {self.reason}"
        super().__init__(text)

    @property
    def url(self) -> str:
        return self.request.url

    @property
    def hint(self) -> str:
        """What to do about it, where easlab can tell: a refused connection to this
        machine is a local kernel that is not running. Empty otherwise."""
        from urllib.parse import urlsplit

        if not isinstance(self.cause, ConnectionRefusedError):
            return ""  # (a URL that urlsplit refuses never got as far as connecting)
        local = (urlsplit(self.url).hostname or "") in ("127.0.0.1", "localhost", "::1")
        if local:
            return (
                "nothing listens there; if it is an easlab kernel, `easlab kernel status` "
                "(%eas kernel in a notebook) shows whether one runs, and where"
            )
        return ""


class Transport:
    """Sends one prepared request and returns its response; raises :class:`TransportError`
    when no response came. Subclasses: :class:`HTTPTransport`, :class:`MockTransport`."""

    def send(self, request: Request, timeout: float) -> Response:
        """Send ``request`` once; ``timeout`` (seconds) bounds connecting and each read."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the connections (a later ``send`` opens new ones)."""

    # -- what code written for the official client calls on its ``connection_pool``
    # (a urllib3 PoolManager)

    def request(
        self,
        method: str,
        url: str,
        body: bytes | str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        retries: object = None,
    ) -> Response:
        """One exchange as urllib3's ``PoolManager.request``: the answer (``status``,
        ``data``, ``headers``) whatever its status; ``timeout`` in seconds (30 by default).

        ``retries`` is taken and ignored: one attempt. No answer raises ``TransportError``.
        """
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
        request = Request(method.upper(), url, Headers(headers or {}), data)
        return self.send(request, 30.0 if timeout is None else float(timeout))

    def clear(self) -> None:
        """``close()`` under urllib3's ``PoolManager`` name."""
        self.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MockTransport(Transport):
    """A transport that calls ``handler(request)`` instead of the network (for tests).

    ``handler`` returns a :class:`Response` (its ``request`` and ``timing`` are
    filled in when left empty) or raises :class:`TransportError`. Every request
    is kept in ``requests``.
    """

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def send(self, request: Request, timeout: float) -> Response:
        with self._lock:
            self.requests.append(request)
        started = time.perf_counter()
        response = self.handler(request)
        if response.request is None:
            response.request = request
        if response.timing == Timing():
            elapsed = (time.perf_counter() - started) * 1000.0
            response.timing = Timing(first_byte_ms=elapsed)
        return response


# Reading a connection that the server closed while it sat in the pool fails
# before any answer arrives; like xmlrpc.client, such a connection is retried
# once on a fresh one (the request cannot have been processed).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

_Key = tuple[str, str, int]


class HTTPTransport(Transport):
    """HTTP/1.1 with keep-alive over stdlib ``http.client``; safe to share between threads.

    ``max_connections``: idle connections kept per host (more may be open at
    once; the extra ones are closed after their request). Environment proxies
    and ``.netrc`` are ignored, as urllib3 (the official client's transport) does.

    An answer with ``Content-Encoding: gzip`` (``x-gzip``, ``deflate``, or a
    list of them) is decoded, as urllib3 decodes it, although the request says
    ``Accept-Encoding: identity`` as the official client's does. It may decode
    to ``max_decoded_bytes`` at most (256 MiB by default); more, or a body that
    is not what its header says, raises :class:`TransportError`.
    """

    def __init__(
        self, max_connections: int = 100, *, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
    ) -> None:
        self.max_connections = max(1, int(max_connections))
        self.max_decoded_bytes = int(max_decoded_bytes)
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def idle_connections(self) -> int:
        """How many connections wait in the pool now."""
        with self._lock:
            return sum(len(conns) for conns in self._idle.values())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # -- the pool -------------------------------------------------------------------------
    def _checkout(self, key: _Key, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                conns = self._idle.get(key)
                conn = conns.pop() if conns else None
            if conn is None:
                scheme, host, port = key
                cls = (
                    http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
                )
                return cls(host, port, timeout=timeout), False
            if conn.sock is None or _dropped(conn.sock):
                conn.close()  # the server closed it while it waited: take another
                continue
            conn.timeout = timeout
            conn.sock.settimeout(timeout)
            return conn, True

    def _checkin(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(key, [])
            if len(conns) < self.max_connections:
                conns.append(conn)
                return
        conn.close()

    # -- one exchange ---------------------------------------------------------------------
    def send(self, request: Request, timeout: float) -> Response:
        try:
            parts = urlsplit(request.url)
            target = request.target  # a space or line break in it: urllib3's LocationParseError
        except ValueError as exc:
            raise TransportError(request, _bad_url(request, exc), retryable=False) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(
                request,
                f"not an http(s) URL: {request.url!r}; expected e.g. "
                "http://127.0.0.1:8080/api/predict/NAME",
                retryable=False,
            )
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:  # a port that is not a number
            raise TransportError(request, f"{exc} in {request.url!r}", retryable=False) from None
        key = (parts.scheme, parts.hostname, port)
        # No body at all rather than an empty one: http.client then sends
        # "Content-Length: 0" only for POST/PUT/PATCH, as urllib3 (the official
        # transport) does, and nothing on a GET or DELETE.
        body = request.body or None
        started = time.perf_counter()
        while True:
            conn, reused = self._checkout(key, timeout)
            t0 = time.perf_counter()
            stage = "send"
            try:
                conn.request(request.method, target, body=body, headers=request.headers)
                t1 = time.perf_counter()
                stage = "wait"
                resp = conn.getresponse()
                t2 = time.perf_counter()
                stage = "read"
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and stage != "read" and isinstance(exc, _STALE):
                    continue
                elapsed = (time.perf_counter() - started) * 1000.0
                raise TransportError(
                    request, exc, elapsed, timeout=isinstance(exc, TimeoutError)
                ) from exc
            except BaseException:  # Ctrl-C mid-exchange: an answer may still come on it
                conn.close()
                raise
            break
        if resp.will_close:
            conn.close()
        else:
            self._checkin(key, conn)  # the body was read whole: the connection is free
        headers = Headers(resp.getheaders())
        encoding = headers.get("Content-Encoding")
        if encoding:
            try:
                data = decode_content(data, encoding, self.max_decoded_bytes)
            except ContentDecodingError as exc:
                elapsed = (time.perf_counter() - started) * 1000.0
                # the official client retries an answer urllib3 cannot decode; one too large would come again
                raise TransportError(
                    request, str(exc), elapsed, retryable=not exc.too_large
                ) from exc
        t3 = time.perf_counter()  # reading the body includes decoding it, as in urllib3
        return Response(
            resp.status,
            data,
            headers,
            resp.reason,
            Timing((t1 - t0) * 1000.0, (t2 - t1) * 1000.0, (t3 - t2) * 1000.0),
            request,
        )


def _bad_url(request: Request, exc: Exception) -> str:
    """Why ``request.url`` cannot be sent (a pasted endpoint's space or line break)."""
    return (
        f"invalid URL {request.url!r} ({exc}): check the endpoint, service name or "
        "custom_url given to the client (one pasted or read from a file may end in a "
        "line break)"
    )


def _dropped(sock: socket.socket) -> bool:
    """True when a pooled socket is readable: the server closed it (or sent garbage)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True
